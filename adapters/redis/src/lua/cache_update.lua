-- Replaces a cached message after an edit, pin or unpin: its own entry, its copy
-- in the recent window (if there), and its membership of the pinned set (if the
-- set is cached).
-- KEYS[1] message:{id}  KEYS[2] chat:messages:{chat}  KEYS[3] chat:recent:{chat}  KEYS[4] chat:pinned:{chat}
-- ARGV[1] message JSON  ARGV[2] ttl ms  ARGV[3] seq  ARGV[4] message id
-- ARGV[5] pin score (unix ms) or '' when unpinned  ARGV[6] empty-window marker
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
local window = redis.call('LRANGE', KEYS[3], 0, -1)
for i, item in ipairs(window) do
  if item ~= ARGV[6] and cjson.decode(item)['id'] == ARGV[4] then
    redis.call('LSET', KEYS[3], i - 1, ARGV[1])
    break
  end
end
if redis.call('EXISTS', KEYS[4]) == 1 then
  if ARGV[5] ~= '' then
    redis.call('ZADD', KEYS[4], ARGV[5], ARGV[4])
  else
    redis.call('ZREM', KEYS[4], ARGV[4])
  end
end
return 1
