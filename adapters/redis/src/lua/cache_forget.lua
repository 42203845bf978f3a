-- Undoes what a write-through of a message put into the chat's keys once its
-- caller found the message tombstoned (the write reached the chat's keys after the
-- delete's cache_delete.lua): the window loses it (a head pushed onto a window that
-- was not full is popped, restoring the window as it was; anywhere else the window
-- is dropped), a pinned-set member entry goes (markers stay), the index forgets it.
-- KEYS[1] chat:recent:{chat}  KEYS[2] chat:pinned:{chat}  KEYS[3] chat:messages:{chat}
-- ARGV[1] message id  ARGV[2] window size  ARGV[3] ttl ms
local id = ARGV[1]
local window = redis.call('LRANGE', KEYS[1], 0, -1)
for i, item in ipairs(window) do
  if item ~= EMPTY and cjson.decode(item)['id'] == id then
    if i == 1 and #window < tonumber(ARGV[2]) then
      redis.call('LPOP', KEYS[1])
      if #window == 1 then
        redis.call('RPUSH', KEYS[1], EMPTY)
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
      end
    else
      redis.call('UNLINK', KEYS[1])
    end
    break
  end
end
local entry = redis.call('HGET', KEYS[2], id)
if entry and string.sub(entry, 1, 1) ~= '~' then
  redis.call('HDEL', KEYS[2], id)
end
redis.call('ZREM', KEYS[3], id)
return 1
