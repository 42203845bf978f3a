-- Registers a socket and marks its user online, atomically with reading the
-- previous status (two instances racing must agree on who saw the change).
-- KEYS[1] user:presence:{u}  KEYS[2] user:sockets:{u}  KEYS[3] users:online:{slot tag of u}
-- KEYS[4] users:online:by_id:{slot tag of u} (the same ids as a zset, scores 0: paging by id)
-- (one slot: see keys.rs)
-- ARGV[1] user id  ARGV[2] socket id  ARGV[3] online record (JSON)  ARGV[4] online ttl ms
-- Returns 1 when the user was not online before (offline, away or unknown).
local prev = redis.call('GET', KEYS[1])
local was = 'offline'
if prev then was = cjson.decode(prev)['status'] end
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[4], 0, ARGV[1])
if was == 'online' then return 0 end
return 1
