-- Write-through of a stored message: by id, in the chat's seq index, and into the
-- chat's recent window when one exists. The message right after the head is pushed;
-- one the window already holds (by seq or id) leaves it alone; anything else (an
-- older message the window lacks, or a newer one past a missed seq) could leave a
-- hole, so the window is dropped (the next read warms it again). A tombstoned id is
-- skipped. An empty window (only the marker) is a chat without messages: head seq 0.
-- KEYS[1] chat:recent:{chat}, then the message's pair
-- ARGV[3] empty-window marker  ARGV[4] window size, then the message's four
local m = messages(2, 5)[1]
if tombstoned(m) then return 0 end
store(m, false)
local window = redis.call('LRANGE', KEYS[1], 0, -1)
if #window == 0 then return 0 end
local seq = tonumber(m.seq)
local head, present = nil, false
for _, item in ipairs(window) do
  if item ~= ARGV[3] then
    local cached = cjson.decode(item)
    head = head or cached['seq']
    if cached['seq'] == seq or cached['id'] == m.id then present = true end
  end
end
if seq == (head or 0) + 1 then
  redis.call('LPUSH', KEYS[1], m.json)
  redis.call('LREM', KEYS[1], 0, ARGV[3])
  redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[4]) - 1)
  redis.call('PEXPIRE', KEYS[1], TTL)
  return 1
end
if present then return 0 end
redis.call('DEL', KEYS[1])
return -1
