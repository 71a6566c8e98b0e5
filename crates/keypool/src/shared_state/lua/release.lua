-- release.lua: ends a lease whose outcome does not judge the key (a client
-- error, a stream the client cut short, an attempt abandoned before the
-- provider answered), and wakes whoever waits for it.
--
-- KEYS[1] = P:kl:<kid>            zset: leases on the key
-- KEYS[2] = P:kml:<kid>:<model>   zset: leases on the key for the model
-- ARGV[1] lease id
-- ARGV[2] wake-up channel (P:wake)
-- ARGV[3] event tag "<kid>|<model>"
--
-- Returns 1 if the lease was held, 0 if it was already released or had
-- expired (releasing twice is harmless). Publishes "<kid>|<model>|free|0".

local released = redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3] .. '|free|0')
return released
