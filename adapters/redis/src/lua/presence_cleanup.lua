-- The cleanup job for one page of one online set (one hash slot: every user of
-- the set, and each user's keys, share that slot). Per user, atomically: a user
-- whose record expired loses their socket set; sockets of instances other than
-- the live ones the caller names (whose heartbeat key it found) are dropped; a user
-- left with no socket is written offline and returned.
-- KEYS[1] users:online:{slot tag}  KEYS[2] users:online:by_id:{slot tag}
-- KEYS[2i+1], KEYS[2i+2] user:presence:{u_i}, user:sockets:{u_i} for i = 1..n
-- ARGV[1] offline ttl ms  ARGV[2] now (RFC 3339)  ARGV[3] number of live
-- instances d  ARGV[4..3+d] their ids  ARGV[4+d..] the n user ids, in KEYS order
-- Returns the offline records written (JSON).
local live = {}
local d = tonumber(ARGV[3])
for i = 4, 3 + d do
  live[ARGV[i]] = true
end
local gone = {}
for i = 4 + d, #ARGV do
  local user = ARGV[i]
  local n = i - 3 - d
  local pkey, skey = KEYS[2 * n + 1], KEYS[2 * n + 2]
  local prev = redis.call('GET', pkey)
  local rec = nil
  if prev then
    rec = cjson.decode(prev)
    for _, socket in ipairs(redis.call('SMEMBERS', skey)) do
      local instance = string.match(socket, '^([^:]+):')
      if not instance or not live[instance] then
        redis.call('SREM', skey, socket)
      end
    end
  else
    redis.call('DEL', skey)
  end
  if redis.call('SCARD', skey) == 0 then
    redis.call('SREM', KEYS[1], user)
    redis.call('ZREM', KEYS[2], user)
    if rec == nil or rec['status'] ~= 'offline' then
      rec = rec or {user_id = user}
      rec['status'] = 'offline'
      rec['last_seen'] = ARGV[2]
      local out = cjson.encode(rec)
      redis.call('SET', pkey, out, 'PX', ARGV[1])
      table.insert(gone, out)
    end
  end
end
return gone
