-- Replaces the chat's pinned set, leaving tombstoned ids out. `pinned` reads the
-- messages by id, so they are cached too, but entries already cached are what
-- `get_cached` answers and stay as they are. The marker keeps an empty set cached.
-- KEYS[1] chat:pinned:{chat}, then the messages' pairs
-- ARGV[3] empty-set marker, then the messages' fours (pin score in unix ms)
redis.call('DEL', KEYS[1])
redis.call('ZADD', KEYS[1], 0, ARGV[3])
for _, m in ipairs(messages(2, 4)) do
  if not tombstoned(m) then
    redis.call('ZADD', KEYS[1], m.score, m.id)
    store(m, true)
  end
end
redis.call('PEXPIRE', KEYS[1], TTL)
return 1
