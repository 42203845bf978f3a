-- cache_pinned: replaces the chat's pinned set with messages read when the chat
-- stood at `as_of`, unless the watermark is above `as_of`. The EMPTY field is always
-- there (so a set with nothing pinned is cached) and holds `as_of`. The caller left
-- out tombstoned messages (checked before; a delete after that raised the watermark
-- or marks the id out of this set after it).
-- KEYS[1] chat:pinned:{chat}  KEYS[2] chat:changed:{chat}
-- ARGV[1] as_of  ARGV[2] ttl ms  ARGV[3..] pairs of message id, message JSON
local w = watermark(KEYS[2])
if w ~= nil and w > tonumber(ARGV[1]) then
  return 0
end
redis.call('UNLINK', KEYS[1])
redis.call('HSET', KEYS[1], EMPTY, ARGV[1])
if #ARGV > 2 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 3))
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
