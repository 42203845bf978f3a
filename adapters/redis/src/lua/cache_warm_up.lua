-- Creates (or replaces) the chat's recent window from the given messages, newest
-- first, and caches them by id. A tombstoned id among them means the list was read
-- before a delete and is stale: then nothing changes.
-- KEYS[1] chat:recent:{chat}, then the messages' pairs
-- ARGV[3] empty-window marker, then the messages' fours
local list = messages(2, 4)
for _, m in ipairs(list) do
  if tombstoned(m) then return 0 end
end
redis.call('DEL', KEYS[1])
if #list == 0 then
  redis.call('RPUSH', KEYS[1], ARGV[3])
end
for _, m in ipairs(list) do
  redis.call('RPUSH', KEYS[1], m.json)
  store(m, false)
end
redis.call('PEXPIRE', KEYS[1], TTL)
return 1
