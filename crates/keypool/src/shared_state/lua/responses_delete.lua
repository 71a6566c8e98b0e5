-- Removes a stored response and its bookkeeping.
--
-- KEYS[1] the record   KEYS[2] ids by when stored (zset)
-- KEYS[3] bytes per id (hash)   KEYS[4] bytes of all records
-- KEYS[5] previous response per id (hash)
-- ARGV[1] id
-- Reply: 1 when the record was there, else 0
local present = redis.call('EXISTS', KEYS[1])
local held = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
if held > 0 then
  redis.call('DECRBY', KEYS[4], held)
end
return present
