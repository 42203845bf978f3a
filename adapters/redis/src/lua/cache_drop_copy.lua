-- invalidate_chat: removes a message's copy unless it is a tombstone, which must
-- outlive the invalidation (a bare UNLINK could remove a tombstone SET by a delete
-- racing the invalidation). Touches its one key only (its own slot).
-- KEYS[1] message:{id}
-- Returns 1 removed, 0 not.
local current = redis.call('GET', KEYS[1])
if current and current ~= TOMBSTONE then
  return redis.call('UNLINK', KEYS[1])
end
return 0
