-- renew.lua: extends a replica's leases that are still running (long
-- requests, streams), every lease_ttl/3, in one call per provider.
--
-- Mode "xx" renews only leases Redis still holds: a lease that expired (the
-- replica stalled past lease_ttl) is not brought back behind the back of a
-- replica that may have taken its slot since; its id is returned as lost.
-- Mode "nx" registers leases Redis does not know (after Redis restarted
-- empty, or after an outage during which the replica leased locally): the
-- calls are in flight, so other replicas must count them.
--
-- KEYS: two per lease: P:kl:<kid>, P:kml:<kid>:<model>
-- ARGV[1] lease ttl, ms
-- ARGV[2] "xx" | "nx"
-- ARGV[3..] lease ids, one per pair of keys
--
-- Returns the ids of the leases not renewed ("xx": lost) or registered
-- anew ("nx").

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl, mode = tonumber(ARGV[1]), ARGV[2]
local expires = now + ttl

local function keep_until(k, at)
  local left = redis.call('PTTL', k)
  if left < 0 or now + left < at then
    redis.call('PEXPIREAT', k, at)
  end
end

local out = {}
for i = 1, #KEYS / 2 do
  local key_l, model_l, lease = KEYS[2 * i - 1], KEYS[2 * i], ARGV[2 + i]
  local held = redis.call('ZSCORE', model_l, lease)
  if mode == 'xx' then
    if held and tonumber(held) > now then
      redis.call('ZADD', model_l, 'XX', expires, lease)
      redis.call('ZADD', key_l, expires, lease)
      keep_until(key_l, expires + ttl)
      keep_until(model_l, expires + ttl)
    else
      table.insert(out, lease)
    end
  elseif not held or tonumber(held) <= now then
    redis.call('ZADD', model_l, expires, lease)
    redis.call('ZADD', key_l, expires, lease)
    keep_until(key_l, expires + ttl)
    keep_until(model_l, expires + ttl)
    table.insert(out, lease)
  end
end
return out
