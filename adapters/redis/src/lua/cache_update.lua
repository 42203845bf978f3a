-- Replaces a cached message after an edit, pin or unpin: its own entry, its copy in
-- the recent window (if there), and its membership of the pinned set (if the set is
-- cached). A tombstoned id is skipped: an edit or pin that raced a delete must not
-- bring the message back.
-- KEYS[1] chat:recent:{chat}  KEYS[2] chat:pinned:{chat}, then the message's pair
-- ARGV[3] empty-window marker, then the message's four (pin score '' when unpinned)
local m = messages(3, 4)[1]
if tombstoned(m) then return 0 end
store(m, false)
local window = redis.call('LRANGE', KEYS[1], 0, -1)
for i, item in ipairs(window) do
  if item ~= ARGV[3] and cjson.decode(item)['id'] == m.id then
    redis.call('LSET', KEYS[1], i - 1, m.json)
    break
  end
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  if m.score ~= '' then
    redis.call('ZADD', KEYS[2], m.score, m.id)
  else
    redis.call('ZREM', KEYS[2], m.id)
  end
end
return 1
