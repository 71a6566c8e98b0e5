-- clear.lua: manual recovery (POST /v1/usage/reset) for one key: clears its
-- lockout (when the whole key is reset) and, for the models given, their
-- cooldowns and failure counters. The one deliberate way to shorten a rest.
-- The replica reads the key's models from P:models:<kid> first (a reset is
-- rare; two round trips are fine) and passes their health hashes, so every
-- key the script touches is declared.
--
-- KEYS[1] = P:key:<kid>
-- KEYS[2..] = P:km:<kid>:<model>, one per model to clear
-- ARGV[1] "1" to clear the key's lockout too (no model filter), else "0"
-- ARGV[2] current reset period start, ms
-- ARGV[3] next reset period start, ms
-- ARGV[4] wake-up channel (P:wake)
-- ARGV[5] the key id (kid)
--
-- Returns 1 if anything in effect was cleared, else 0 (as the pool counts
-- changed keys). Publishes "<kid>|*|free|0": every model's waiters retry.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local period = ARGV[2]
if now >= tonumber(ARGV[3]) then
  period = ARGV[3]
end

local changed = 0
if ARGV[1] == '1' then
  local k = redis.call('HMGET', KEYS[1], 'locked_until', 'lockouts', 'period')
  if k[3] == period and (tonumber(k[1] or '0') > now or tonumber(k[2] or '0') > 0) then
    changed = 1
  end
  if k[3] then
    redis.call('HSET', KEYS[1], 'locked_until', 0, 'lockouts', 0)
  end
end
for i = 2, #KEYS do
  local m = redis.call('HMGET', KEYS[i], 'cooldown_until', 'hinted', 'failures', 'period')
  local current = m[4] == period
  if (tonumber(m[1] or '0') > now and (current or m[2] == '1'))
      or (current and tonumber(m[3] or '0') > 0) then
    changed = 1
  end
  if m[4] then
    redis.call('HSET', KEYS[i], 'cooldown_until', 0, 'hinted', 0, 'failures', 0)
  end
end
if changed == 1 then
  redis.call('PUBLISH', ARGV[4], ARGV[5] .. '|*|free|0')
end
return changed
