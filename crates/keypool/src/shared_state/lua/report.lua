-- report.lua: the outcome of a leased attempt that judges the key (a success
-- or a failure), and the release of its lease, atomically.
--
-- Mirrors the pool's health rules: a success clears the ladder and any
-- lockout; a 401/403 locks the key for every model (5 min, doubling, at
-- most an hour); a rate limit rests the key for the model for
-- max(hint, ladder step); a quota until the hint or else the next daily
-- reset; a transient failure for the ladder step. A cooldown or lockout is
-- never shortened. Failures of leases that were in flight together are one
-- step of the ladder: a failure climbs only if its lease was taken after
-- the last recorded failure (lease ids are ordered provider-wide, so this
-- holds across replicas). Counters and ladder cooldowns belong to the reset
-- period they were written in; a new period starts them from zero without
-- anyone running a reset. Usage is not counted here: see usage.lua.
--
-- KEYS[1] = P:seq                 lease counter (the latest lease id)
-- KEYS[2] = P:key:<kid>           hash: locked_until, lockouts, rejected_at, period
-- KEYS[3] = P:km:<kid>:<model>    hash: cooldown_until, hinted, failures,
--                                 failed_at, last_failure, period
-- KEYS[4] = P:kl:<kid>            zset: leases on the key
-- KEYS[5] = P:kml:<kid>:<model>   zset: leases on the key for the model
-- KEYS[6] = P:lim:<kid>:<model>   hash: the per-key limits' counts (see
--                                 acquire.lua); optional
--
-- ARGV[1]  lease id
-- ARGV[2]  "success" | "failure"
-- ARGV[3]  failure kind: rate_limited | quota | transient | key_rejected
-- ARGV[4]  the provider's hint, ms ("" = none)
-- ARGV[5]  current reset period start, ms
-- ARGV[6]  next reset period start, ms
-- ARGV[7]  the reset period start after that, ms
-- ARGV[8]  ladder steps, ms, comma-separated ("10000,30000,60000,120000,300000")
-- ARGV[9]  first lockout, ms
-- ARGV[10] longest lockout, ms
-- ARGV[11] how long state is kept after its rest ends, ms
-- ARGV[12] wake-up channel (P:wake)
-- ARGV[13] event tag "<kid>|<model>"
-- ARGV[14] tokens the lease counted against tokens per minute, ARGV[15]
--          the tokens the answer used (with KEYS[6]): the count this
--          minute takes the answer's usage in place of the estimate
--
-- Returns {now, cooldown_until, locked_until, failures, lockouts, released}
-- (times in ms, 0 when not resting; released = 1 if the lease was held).
-- Publishes "<kid>|<model>|free|0", "...|cool|<until>" or "...|lock|<until>".

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local taken = tonumber(ARGV[1])
local outcome, kind = ARGV[2], ARGV[3]
local hint = tonumber(ARGV[4])
local period, next_reset = ARGV[5], tonumber(ARGV[6])
if now >= next_reset then
  period, next_reset = ARGV[6], tonumber(ARGV[7])
end
local ladder = {}
for step in string.gmatch(ARGV[8], '%d+') do
  table.insert(ladder, tonumber(step))
end
local lock_base, lock_max, keep = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])

local released = redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
local latest = tonumber(redis.call('GET', KEYS[1]) or '0')

-- The state as of this period: what an older period wrote is reset.
local k = redis.call('HMGET', KEYS[2], 'locked_until', 'lockouts', 'rejected_at', 'period')
local locked, lockouts, rejected_at = 0, 0, tonumber(k[3] or '0')
if k[4] == period then
  locked, lockouts = tonumber(k[1] or '0'), tonumber(k[2] or '0')
end
local m = redis.call('HMGET', KEYS[3], 'cooldown_until', 'hinted', 'failures', 'failed_at',
  'last_failure', 'period')
local cool, hinted, failures, failed_at, last = 0, '0', 0, tonumber(m[4] or '0'), false
if m[6] == period then
  cool, hinted, failures, last = tonumber(m[1] or '0'), m[2] or '0', tonumber(m[3] or '0'), m[5]
elseif m[2] == '1' then
  cool, hinted = tonumber(m[1] or '0'), '1'
end

local function save_key()
  redis.call('HSET', KEYS[2], 'locked_until', locked, 'lockouts', lockouts,
    'rejected_at', rejected_at, 'period', period)
  redis.call('PEXPIREAT', KEYS[2], math.max(locked, now) + keep)
end
local function save_model()
  redis.call('HSET', KEYS[3], 'cooldown_until', cool, 'hinted', hinted, 'failures', failures,
    'failed_at', failed_at, 'period', period)
  if last then
    redis.call('HSET', KEYS[3], 'last_failure', last)
  else
    redis.call('HDEL', KEYS[3], 'last_failure')
  end
  redis.call('PEXPIREAT', KEYS[3], math.max(cool, now) + keep)
end

local event, event_until = 'free', 0
if outcome == 'success' then
  if lockouts > 0 or locked > 0 then
    locked, lockouts = 0, 0
    save_key()
  end
  if failures > 0 then
    failures = 0
    save_model()
  end
elseif kind == 'key_rejected' then
  if taken > rejected_at or lockouts == 0 then
    lockouts = lockouts + 1
  end
  rejected_at = latest
  local rest = math.min(lock_base * 2 ^ math.min(lockouts - 1, 16), lock_max)
  locked = math.max(locked, now + rest)
  save_key()
  last = kind
  save_model()
  event, event_until = 'lock', locked
else
  if taken > failed_at or failures == 0 then
    failures = failures + 1
  end
  failed_at = latest
  last = kind
  local until_, hinted_new
  if kind == 'quota' then
    if hint then
      until_, hinted_new = now + hint, '1'
    else
      until_, hinted_new = next_reset, '0'
    end
  else
    local step = ladder[math.min(failures, #ladder)]
    if kind == 'rate_limited' and hint and hint >= step then
      until_, hinted_new = now + hint, '1'
    else
      until_, hinted_new = now + step, '0'
    end
  end
  -- Never shortened: a later, shorter cooldown leaves a longer one alone.
  if not (cool > now and cool >= until_) then
    cool, hinted = until_, hinted_new
  end
  save_model()
  event, event_until = 'cool', cool
end

if KEYS[6] then
  local minute = math.floor(now / 60000)
  local c = redis.call('HMGET', KEYS[6], 'm', 'mt')
  local mt = 0
  if tonumber(c[1]) == minute then
    mt = tonumber(c[2]) or 0
  else
    redis.call('HSET', KEYS[6], 'm', minute, 'mr', 0)
  end
  mt = math.max(0, mt - tonumber(ARGV[14])) + tonumber(ARGV[15])
  redis.call('HSET', KEYS[6], 'mt', mt)
  if redis.call('PTTL', KEYS[6]) < 0 then
    redis.call('PEXPIRE', KEYS[6], 2 * 86400000)
  end
end

redis.call('PUBLISH', ARGV[12], ARGV[13] .. '|' .. event .. '|' .. event_until)
local cool_out, locked_out = cool, locked
if cool_out <= now then cool_out = 0 end
if locked_out <= now then locked_out = 0 end
return {now, cool_out, locked_out, failures, lockouts, released}
