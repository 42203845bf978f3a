-- delete_cached, the chat's half (runs right after the tombstone is SET): drops the
-- window, marks the id out of the pinned set as of the delete (so a late pin stays
-- out), unindexes it and raises the watermark to the delete's version, which refuses
-- every warm_up and cache_pinned read before the delete.
-- KEYS[1] chat:recent:{chat}  KEYS[2] chat:pinned:{chat}  KEYS[3] chat:messages:{chat}
-- KEYS[4] chat:changed:{chat}
-- ARGV[1] message id  ARGV[2] the delete's version  ARGV[3] ttl ms
redis.call('UNLINK', KEYS[1])
if redis.call('HEXISTS', KEYS[2], EMPTY) == 1 then
  redis.call('HSET', KEYS[2], ARGV[1], UNPINNED .. ARGV[2])
end
redis.call('ZREM', KEYS[3], ARGV[1])
raise_watermark(KEYS[4], tonumber(ARGV[2]), ARGV[3])
return 1
