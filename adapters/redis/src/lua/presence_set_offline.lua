-- Unregisters a socket; the user goes offline only when it was their last socket
-- on any instance. Atomic, so a concurrent set_online elsewhere cannot leave the
-- user offline with a socket or online with none.
-- KEYS[1] user:presence:{u}  KEYS[2] user:sockets:{u}  KEYS[3] users:online:{slot tag of u}
-- KEYS[4] users:online:by_id:{slot tag of u} (the same ids as a zset, scores 0: paging by id)
-- (one slot: see keys.rs)
-- ARGV[1] user id  ARGV[2] socket id  ARGV[3] offline record (JSON)  ARGV[4] offline ttl ms
-- Returns {changed, record or nil}.
local removed = redis.call('SREM', KEYS[2], ARGV[2])
if removed == 0 or redis.call('SCARD', KEYS[2]) > 0 then
  return {0, redis.call('GET', KEYS[1])}
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return {1, ARGV[3]}
