-- update_cached, the copy's half: writes the message's copy for `read_ttl` unless
-- the id is tombstoned or a copy with the same or a higher version is cached. Also
-- when no copy was cached: the fence that makes a reader's later cache_read of the
-- older version (SET NX) fail. Touches its one key only (its own slot).
-- KEYS[1] message:{id}
-- ARGV[1] message JSON  ARGV[2] version  ARGV[3] read_ttl ms
-- Returns 0 tombstoned, 1 a newer copy kept, 2 written.
local current = redis.call('GET', KEYS[1])
if current == TOMBSTONE then
  return 0
end
if current and (cjson.decode(current)['version'] or 0) >= tonumber(ARGV[2]) then
  return 1
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 2
