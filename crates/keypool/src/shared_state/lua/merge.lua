-- merge.lua: pushes what a replica learnt while Redis was unreachable
-- (cooldowns, lockouts, failure counters of one key and model) into the
-- shared state, with max(): nothing shared is shortened or lowered.
--
-- KEYS[1] = P:key:<kid>
-- KEYS[2] = P:km:<kid>:<model>
-- ARGV[1] current reset period start, ms
-- ARGV[2] next reset period start, ms
-- ARGV[3] locked_until, ms (0 = none)
-- ARGV[4] lockouts
-- ARGV[5] cooldown_until, ms (0 = none)
-- ARGV[6] hinted ("1" or "0")
-- ARGV[7] failures
-- ARGV[8] last failure kind ("" = none)
-- ARGV[9] how long state is kept after its rest ends, ms
-- ARGV[10] wake-up channel (P:wake)
-- ARGV[11] event tag "<kid>|<model>"
--
-- Returns {cooldown_until, locked_until} as now shared.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local period = ARGV[1]
if now >= tonumber(ARGV[2]) then
  -- The local state was made in a period that has ended: only what
  -- survives a reset (a hinted cooldown) is worth merging.
  period = ARGV[2]
end
local same_period = period == ARGV[1]
local keep = tonumber(ARGV[9])

local k = redis.call('HMGET', KEYS[1], 'locked_until', 'lockouts', 'rejected_at', 'period')
local locked, lockouts = 0, 0
if k[4] == period then
  locked, lockouts = tonumber(k[1] or '0'), tonumber(k[2] or '0')
end
local m = redis.call('HMGET', KEYS[2], 'cooldown_until', 'hinted', 'failures', 'failed_at',
  'last_failure', 'period')
local cool, hinted, failures, last = 0, '0', 0, false
if m[6] == period then
  cool, hinted, failures, last = tonumber(m[1] or '0'), m[2] or '0', tonumber(m[3] or '0'), m[5]
elseif m[2] == '1' then
  cool, hinted = tonumber(m[1] or '0'), '1'
end

local in_locked, in_cool = tonumber(ARGV[3]), tonumber(ARGV[5])
local key_changed, model_changed = false, false
if same_period then
  if in_locked > locked then locked, key_changed = in_locked, true end
  if tonumber(ARGV[4]) > lockouts then lockouts, key_changed = tonumber(ARGV[4]), true end
  if tonumber(ARGV[7]) > failures then failures, model_changed = tonumber(ARGV[7]), true end
end
if (same_period or ARGV[6] == '1') and in_cool > cool then
  cool, hinted, model_changed = in_cool, ARGV[6], true
  if ARGV[8] ~= '' then last = ARGV[8] end
end

if key_changed then
  redis.call('HSET', KEYS[1], 'locked_until', locked, 'lockouts', lockouts,
    'rejected_at', k[3] or '0', 'period', period)
  redis.call('PEXPIREAT', KEYS[1], math.max(locked, now) + keep)
end
if model_changed then
  redis.call('HSET', KEYS[2], 'cooldown_until', cool, 'hinted', hinted, 'failures', failures,
    'failed_at', m[4] or '0', 'period', period)
  if last then redis.call('HSET', KEYS[2], 'last_failure', last) end
  redis.call('PEXPIREAT', KEYS[2], math.max(cool, now) + keep)
  redis.call('PUBLISH', ARGV[10], ARGV[11] .. '|cool|' .. cool)
end
if key_changed then
  redis.call('PUBLISH', ARGV[10], ARGV[11] .. '|lock|' .. locked)
end
return {cool, locked}
