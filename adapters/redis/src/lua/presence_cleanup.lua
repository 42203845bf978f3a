-- The cleanup job for one page of users:online. Per user, atomically: a user whose
-- record expired loses their socket set; sockets of instances whose heartbeat key
-- is gone are dropped; a user left with no socket is written offline and returned.
-- Per-user keys are derived from the prefix because the page's users are only
-- known at run time (this deployment is single-node Redis, not Cluster).
-- KEYS[1] users:online  KEYS[2] users:online:by_id
-- ARGV[1] key prefix  ARGV[2] offline ttl ms  ARGV[3] now (RFC 3339)  ARGV[4..] user ids
-- Returns the offline records written (JSON).
local gone = {}
for i = 4, #ARGV do
  local user = ARGV[i]
  local pkey = ARGV[1] .. 'user:presence:' .. user
  local skey = ARGV[1] .. 'user:sockets:' .. user
  local prev = redis.call('GET', pkey)
  local rec = nil
  if prev then
    rec = cjson.decode(prev)
    for _, socket in ipairs(redis.call('SMEMBERS', skey)) do
      local instance = string.match(socket, '^([^:]+):')
      if not instance or redis.call('EXISTS', ARGV[1] .. 'instance:' .. instance) == 0 then
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
      rec['last_seen'] = ARGV[3]
      local out = cjson.encode(rec)
      redis.call('SET', pkey, out, 'PX', ARGV[2])
      table.insert(gone, out)
    end
  end
end
return gone
