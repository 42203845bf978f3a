-- Write-through of a stored message: by id, in the chat's seq index, and onto the
-- chat's recent window when one exists and this is the message right after its
-- head. A newer message that is not the next seq means one was missed, and a
-- window must never have a hole, so the window is dropped instead (the next read
-- warms it up again). Older or already present messages leave the window alone.
-- KEYS[1] message:{id}  KEYS[2] chat:messages:{chat}  KEYS[3] chat:recent:{chat}
-- ARGV[1] message JSON  ARGV[2] ttl ms  ARGV[3] seq  ARGV[4] message id
-- ARGV[5] empty-window marker  ARGV[6] window size
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
local head = redis.call('LINDEX', KEYS[3], 0)
if not head then return 0 end
local seq = tonumber(ARGV[3])
if head ~= ARGV[5] then
  local head_seq = cjson.decode(head)['seq']
  if seq <= head_seq then return 0 end
  if seq ~= head_seq + 1 then
    redis.call('DEL', KEYS[3])
    return -1
  end
end
redis.call('LPUSH', KEYS[3], ARGV[1])
redis.call('LREM', KEYS[3], 0, ARGV[5])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[6]) - 1)
redis.call('PEXPIRE', KEYS[3], ARGV[2])
return 1
