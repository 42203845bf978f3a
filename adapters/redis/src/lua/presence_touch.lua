-- Activity on a socket: keeps the user's record and socket set alive, and
-- re-registers both when they had expired (an idle but connected user stays online).
-- KEYS[1] user:presence:{u}  KEYS[2] user:sockets:{u}  KEYS[3] users:online
-- ARGV[1] user id  ARGV[2] socket id  ARGV[3] online record (JSON)  ARGV[4] online ttl ms
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
local prev = redis.call('GET', KEYS[1])
if prev and cjson.decode(prev)['status'] ~= 'offline' then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
end
redis.call('SADD', KEYS[3], ARGV[1])
return 1
