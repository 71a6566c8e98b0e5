-- acquire.lua: lease one key of a provider for one model, atomically.
--
-- The replica passes the keys it would pick, best first (its local rank:
-- fewest successes today, then least recently used). The script skips every
-- candidate that is locked out, cooling down for the model, or at the
-- per-(key, model) concurrency limit, after dropping expired leases. Among
-- the rest it takes the smallest tier (0: nothing in flight on the key,
-- 1: busy only with other models, 2: busy with this model), ties broken by
-- the replica's order. Time is Redis's own (TIME), so replicas with skewed
-- clocks agree.
--
-- Sticky sessions: a conversation's pin (KEYS[3]) names the key it was
-- last leased on, for every replica. When that key is a candidate and can
-- serve, it is taken whatever its tier; the pin then names the key leased
-- and lives ARGV[5] ms more (idle expiry).
--
-- KEYS[1] = P:seq     lease counter (INCR): lease ids, ordered provider-wide
-- KEYS[2] = P:epoch   set once per Redis life (with the first lease id): a
--                     change tells replicas that Redis restarted empty
-- KEYS[3] = P:pin:<conversation>  string: the pinned key's P:key:<kid>
--                     (untouched when ARGV[5] is 0)
-- then five keys per candidate i (base = 3 + 5 * (i - 1)):
--   base+1 = P:key:<kid>              hash: lockout of the key
--   base+2 = P:km:<kid>:<model>       hash: health of the key for the model
--   base+3 = P:kl:<kid>               zset: leases on the key (all models)
--   base+4 = P:kml:<kid>:<model>      zset: leases on the key for the model
--   base+5 = P:lim:<kid>:<model>      hash: calls and tokens in the windows of
--                                     the per-key limits (m, mr, mt, d, dr)
--   (P = <namespace>:{<provider>}; every key shares the provider's hash tag)
-- and last:
--   KEYS[#KEYS] = P:disabled          set: key ids an operator disabled
--
-- ARGV[1] = limit per (key, model); 0 = unlimited
-- ARGV[2] = lease ttl, ms
-- ARGV[3] = current reset period (ms of its scheduled start)
-- ARGV[4] = next reset period start, ms (the script moves to it once
--           Redis's clock has passed it, so no replica has to run a reset)
-- ARGV[5] = pin idle expiry, ms; 0 = the request has no conversation
-- ARGV[6..8] = the per-key limits rpm, rpd, tpm; 0 = none (see
--           resilience::limits: a candidate at one rests until its window
--           ends; a lease counts one call and ARGV[11] tokens)
-- ARGV[9] = the provider's current day start, ms; ARGV[10] = the next one
-- ARGV[11] = the request's expected tokens
--
-- Returns, on success:
--   {1, candidate position (1-based), lease id, now ms, lease expiry ms, epoch,
--    position of the pinned candidate (0: no pin among the candidates)}
-- when no candidate can serve now:
--   {0, now ms, epoch, then per candidate: state, until ms, cause}
--   state: "off" (disabled) | "lock" | "cool" | "cap" (at a per-key limit)
--   | "full"; until: end of the rest (0 for "off" and "full");
--   cause: the last failure kind ("" when unknown or locked).

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local limit = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local period = ARGV[3]
if now >= tonumber(ARGV[4]) then
  period = ARGV[4]
end
local pin_ms = tonumber(ARGV[5])
local pin = false
if pin_ms > 0 then
  pin = redis.call('GET', KEYS[3])
end

-- Per-key limits, in fixed windows: the minute on Redis's clock, the
-- provider's day as the replica computed it (rolled once Redis passes it).
local rpm, rpd, tpm = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local capped = rpm > 0 or rpd > 0 or tpm > 0
local day, next_day = ARGV[9], tonumber(ARGV[10])
if now >= next_day then
  day, next_day = ARGV[10], next_day + 86400000
end
local tokens = tonumber(ARGV[11])
local minute = math.floor(now / 60000)
local next_minute = (minute + 1) * 60000

-- The calls this minute, tokens this minute and calls this day counted in
-- hash `h`.
local function counts(h)
  local c = redis.call('HMGET', h, 'm', 'mr', 'mt', 'd', 'dr')
  local mr, mt, dr = 0, 0, 0
  if tonumber(c[1]) == minute then
    mr, mt = tonumber(c[2]) or 0, tonumber(c[3]) or 0
  end
  if c[4] == day then
    dr = tonumber(c[5]) or 0
  end
  return mr, mt, dr
end

-- Until when a key with these counts is at a limit; 0 if it is not.
local function capped_until(mr, mt, dr)
  local u = 0
  if (rpm > 0 and mr >= rpm) or (tpm > 0 and mt >= tpm) then
    u = next_minute
  end
  if rpd > 0 and dr >= rpd then
    u = math.max(next_day, next_minute)
  end
  return u
end

-- Gives key `k` a lifetime to at least `at` (ms), never a shorter one: a
-- set of leases lives as long as its longest lease (plus a margin).
local function keep_until(k, at)
  local left = redis.call('PTTL', k)
  if left < 0 or now + left < at then
    redis.call('PEXPIREAT', k, at)
  end
end

local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = tostring(now)
  redis.call('SET', KEYS[2], epoch)
  -- Lease ids must not repeat across a restart: replicas may still hold
  -- (and release, or register again) ids from before it. Starting at
  -- now × 1000 puts new ids above the old ones unless the last life leased
  -- over a thousand times per millisecond; still exact in Lua's doubles.
  redis.call('SET', KEYS[1], now * 1000, 'NX')
end

local n = (#KEYS - 4) / 5
local disabled = KEYS[#KEYS]
local best, best_tier = nil, nil
local pinned = 0
local refused = {}

for i = 1, n do
  local base = 3 + 5 * (i - 1)
  local key_h, model_h, key_l, model_l = KEYS[base + 1], KEYS[base + 2], KEYS[base + 3], KEYS[base + 4]
  local cap = 0
  if capped then
    cap = capped_until(counts(KEYS[base + 5]))
  end

  -- A lockout counts only in the period it was made in: the daily reset
  -- clears lockouts without anyone writing.
  local lk = redis.call('HMGET', key_h, 'locked_until', 'period')
  local locked = 0
  if lk[1] and lk[2] == period then
    locked = tonumber(lk[1])
  end

  -- A ladder cooldown ends with its period; a hinted one (the provider said
  -- when) outlives the daily reset.
  local m = redis.call('HMGET', model_h, 'cooldown_until', 'hinted', 'period', 'last_failure')
  local cool = 0
  if m[1] and (m[2] == '1' or m[3] == period) then
    cool = tonumber(m[1])
  end

  if redis.call('SISMEMBER', disabled, string.match(key_h, ':key:([^:]+)$')) == 1 then
    table.insert(refused, 'off')
    table.insert(refused, 0)
    table.insert(refused, '')
  elseif locked > now then
    table.insert(refused, 'lock')
    table.insert(refused, math.max(locked, cool))
    table.insert(refused, '')
  elseif cool > now then
    table.insert(refused, 'cool')
    table.insert(refused, cool)
    table.insert(refused, m[4] or '')
  elseif cap > now then
    table.insert(refused, 'cap')
    table.insert(refused, cap)
    table.insert(refused, '')
  else
    -- Leases of a replica that died (or stopped renewing) expire here.
    redis.call('ZREMRANGEBYSCORE', key_l, '-inf', now)
    redis.call('ZREMRANGEBYSCORE', model_l, '-inf', now)
    local on_model = redis.call('ZCARD', model_l)
    if limit > 0 and on_model >= limit then
      table.insert(refused, 'full')
      table.insert(refused, 0)
      table.insert(refused, '')
    else
      local tier = 2
      if redis.call('ZCARD', key_l) == 0 then
        tier = 0
      elseif on_model == 0 then
        tier = 1
      end
      if key_h == pin then
        -- The conversation's key can serve: it wins over any tier.
        best, best_tier = i, -1
      elseif best == nil or tier < best_tier then
        best, best_tier = i, tier
      end
      table.insert(refused, 'free')
      table.insert(refused, 0)
      table.insert(refused, '')
    end
  end
  if key_h == pin then
    pinned = i
  end
  -- An idle key is as good as it gets, unless the pinned key may be
  -- further on: the rest need not be looked at.
  if best_tier == -1 or (best_tier == 0 and (not pin or pinned > 0)) then
    break
  end
end

if best == nil then
  local reply = {0, now, epoch}
  for _, v in ipairs(refused) do
    table.insert(reply, v)
  end
  return reply
end

local base = 3 + 5 * (best - 1)
local lease = redis.call('INCR', KEYS[1])
local expires = now + ttl
redis.call('ZADD', KEYS[base + 3], expires, lease)
redis.call('ZADD', KEYS[base + 4], expires, lease)
-- Lease sets vanish by themselves once every lease in them is long gone.
keep_until(KEYS[base + 3], expires + ttl)
keep_until(KEYS[base + 4], expires + ttl)
if pin_ms > 0 then
  redis.call('SET', KEYS[3], KEYS[base + 1], 'PX', pin_ms)
end
if capped then
  local h = KEYS[base + 5]
  local mr, mt, dr = counts(h)
  redis.call('HSET', h, 'm', minute, 'mr', mr + 1, 'mt', mt + tokens, 'd', day, 'dr', dr + 1)
  redis.call('PEXPIREAT', h, math.max(next_day, next_minute) + 60000)
end
return {1, best, lease, now, expires, epoch, pinned}
