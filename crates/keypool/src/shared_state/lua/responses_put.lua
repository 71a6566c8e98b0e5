-- Keeps one stored response of the Responses API, bounded in age and in
-- bytes (oldest first out), in one atomic step on Redis's clock.
--
-- KEYS[1] the record (string)        KEYS[2] ids by when stored (zset)
-- KEYS[3] bytes per id (hash)        KEYS[4] bytes of all records (string)
-- KEYS[5] previous response per id (hash)
-- ARGV[1] id   ARGV[2] the record (JSON)   ARGV[3] time to live, ms
-- ARGV[4] most bytes in all   ARGV[5] the records' key prefix (same hash
-- tag as KEYS; the evicted records' names are built from it)
-- ARGV[6] the response it continued, or ""
-- Reply: {stored (1 or 0: larger than all may be), records evicted}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id, record, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local max_total, prefix = tonumber(ARGV[4]), ARGV[5]
local size = string.len(record)

local function forget(old)
  local held = tonumber(redis.call('HGET', KEYS[3], old) or '0')
  redis.call('DEL', prefix .. old)
  redis.call('ZREM', KEYS[2], old)
  redis.call('HDEL', KEYS[3], old)
  redis.call('HDEL', KEYS[5], old)
  if held > 0 then redis.call('DECRBY', KEYS[4], held) end
end

-- Expired records are gone already; their bookkeeping goes, a batch at a time.
for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - ttl, 'LIMIT', 0, 64)) do
  forget(old)
end
forget(id)
if size > max_total then
  return {0, 0}
end
local evicted = 0
while tonumber(redis.call('GET', KEYS[4]) or '0') + size > max_total do
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)
  if #oldest == 0 then
    break
  end
  forget(oldest[1])
  evicted = evicted + 1
end
redis.call('SET', KEYS[1], record, 'PX', ttl)
redis.call('ZADD', KEYS[2], now, id)
redis.call('HSET', KEYS[3], id, size)
if ARGV[6] ~= '' then
  redis.call('HSET', KEYS[5], id, ARGV[6])
end
redis.call('INCRBY', KEYS[4], size)
return {1, evicted}
