-- Sets online/away for a user who has a socket, keeping the rest of the record.
-- KEYS[1] user:presence:{u}  KEYS[2] user:sockets:{u}  KEYS[3] users:online:{slot tag of u}
-- KEYS[4] users:online:by_id:{slot tag of u} (the same ids as a zset, scores 0: paging by id)
-- (one slot: see keys.rs)
-- ARGV[1] user id  ARGV[2] status  ARGV[3] last_seen (RFC 3339)  ARGV[4] online ttl ms
-- Returns nil when the user has no socket, else {changed, record}.
if redis.call('SCARD', KEYS[2]) == 0 then return false end
local prev = redis.call('GET', KEYS[1])
local rec = {user_id = ARGV[1]}
local was = 'offline'
if prev then
  rec = cjson.decode(prev)
  was = rec['status']
end
rec['status'] = ARGV[2]
rec['last_seen'] = ARGV[3]
local out = cjson.encode(rec)
redis.call('SET', KEYS[1], out, 'PX', ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[4], 0, ARGV[1])
local changed = 0
if was ~= ARGV[2] then changed = 1 end
return {changed, out}
