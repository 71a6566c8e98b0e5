-- The conversation a stored response ends: its id and every one it
-- continued, followed through the previous-response links, with their
-- records, in one round trip.
--
-- KEYS[1] previous response per id (hash)
-- ARGV[1] id   ARGV[2] the records' key prefix (same hash tag)
-- ARGV[3] the longest chain followed
-- Reply: {id, record or false, …} oldest first; {} when longer than ARGV[3]
local ids = {}
local id = ARGV[1]
local most = tonumber(ARGV[3])
while id do
  if #ids == most then
    return {}
  end
  table.insert(ids, id)
  id = redis.call('HGET', KEYS[1], id)
end
local out = {}
for i = #ids, 1, -1 do
  table.insert(out, ids[i])
  table.insert(out, redis.call('GET', ARGV[2] .. ids[i]))
end
return out
