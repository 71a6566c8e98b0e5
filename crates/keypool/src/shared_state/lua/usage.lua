-- usage.lua: adds one batch of a replica's usage counters, exactly once.
--
-- A replica sends its usage per provider in numbered batches, one batch in
-- flight at a time; a batch that failed or timed out is sent again with the
-- same number (new usage goes into the next one). Redis keeps, per replica,
-- the highest batch number applied: a batch at or below it is a no-op, so a
-- batch whose reply was lost, or replayed after an outage, counts once.
-- Daily counters are bucketed by reset period (the period the usage was
-- recorded in, decided by the replica), so the daily reset needs no writes.
--
-- KEYS[1] = P:wm:<replica id>     the replica's last applied batch number
-- then three keys per entry:
--   P:ud:<kid>:<period>:<model>   hash: today's counters (expires)
--   P:ul:<kid>:<model>            hash: lifetime counters
--   P:models:<kid>                zset: model -> last time counted (ms)
--
-- then one key per hour of history (the status page's chart):
--   P:hist:<hour>                 hash: that hour's counts (expires)
--
-- ARGV[1] batch number (> 0)
-- ARGV[2] how long daily buckets are kept, ms
-- ARGV[3] how long the replica's watermark is kept, ms
-- then six values per entry: model, requests, successes, failures,
--   prompt_tokens, completion_tokens
-- then three values per hour: requests, failures, rate_limited
-- (so #ARGV - 3 - 2 * (#KEYS - 1) hours; none in a batch without them)
--
-- Returns {1, batch} when applied, {0, watermark} when already applied.

local batch = tonumber(ARGV[1])
local applied = tonumber(redis.call('GET', KEYS[1]) or '0')
if batch <= applied then
  return {0, applied}
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local daily_keep = tonumber(ARGV[2])
local fields = {'requests', 'successes', 'failures', 'prompt_tokens', 'completion_tokens'}
local hours = #ARGV - 3 - 2 * (#KEYS - 1)
local entries = (#KEYS - 1 - hours) / 3

for i = 1, entries do
  local daily, lifetime, models = KEYS[3 * i - 1], KEYS[3 * i], KEYS[3 * i + 1]
  local base = 3 + 6 * (i - 1)
  for f = 1, 5 do
    local n = tonumber(ARGV[base + 1 + f])
    if n ~= 0 then
      redis.call('HINCRBY', daily, fields[f], n)
      redis.call('HINCRBY', lifetime, fields[f], n)
    end
  end
  redis.call('PEXPIRE', daily, daily_keep)
  redis.call('ZADD', models, now, ARGV[base + 1])
end

-- An hour is kept 49 h: the 48 the pool shows, and the one under way.
local hour_fields = {'requests', 'failures', 'rate_limited'}
for j = 1, hours do
  local hour, base = KEYS[1 + 3 * entries + j], 3 + 6 * entries + 3 * (j - 1)
  for f = 1, 3 do
    local n = tonumber(ARGV[base + f])
    if n ~= 0 then
      redis.call('HINCRBY', hour, hour_fields[f], n)
    end
  end
  redis.call('PEXPIRE', hour, 49 * 3600 * 1000)
end

redis.call('SET', KEYS[1], batch, 'PX', tonumber(ARGV[3]))
return {1, batch}
