-- Activity on a socket: keeps the user's record and socket set alive and
-- registers the socket again if it was dropped. A user with no record, an
-- expired one or an offline one (the cleanup job or clear-presence took a
-- still-connected user offline) is written back online, atomically with reading
-- the previous status so exactly one caller sees the change and announces it.
-- KEYS[1] user:presence:{u}  KEYS[2] user:sockets:{u}  KEYS[3] users:online:{slot tag of u}
-- KEYS[4] users:online:by_id:{slot tag of u} (the same ids as a zset, scores 0: paging by id)
-- (one slot: see keys.rs)
-- ARGV[1] user id  ARGV[2] socket id  ARGV[3] online record (JSON)  ARGV[4] online ttl ms
-- Returns {changed, record as it now stands}.
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[4], 0, ARGV[1])
local prev = redis.call('GET', KEYS[1])
if prev and cjson.decode(prev)['status'] ~= 'offline' then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return {0, prev}
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
return {1, ARGV[3]}
