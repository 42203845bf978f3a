-- Forgets a chat: its seq index, window and pinned set, and the given message keys
-- (the index's members, read just before) unless they hold a tombstone, which must
-- outlive the invalidation.
-- KEYS[1] chat:messages:{chat}  KEYS[2] chat:recent:{chat}  KEYS[3] chat:pinned:{chat}
-- KEYS[4..] message:{id}  ARGV[1] tombstone marker
local removed = redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3])
for k = 4, #KEYS do
  local value = redis.call('GET', KEYS[k])
  if value and value ~= ARGV[1] then
    removed = removed + redis.call('UNLINK', KEYS[k])
  end
end
return removed
