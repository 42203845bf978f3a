-- Redis Cluster: indexes a session just stored (SET NX on its own slot) under its
-- user and, atomically with that, decides which of the user's other sessions end so
-- that at most ARGV[3] remain: those that expire first, dropped from the index here.
-- The index is what a session must be in to refresh (a rotation whose session is
-- not indexed deletes it and is refused), so the cap holds from this step on; the
-- caller then deletes the ended sessions' keys (their slots are elsewhere), a step
-- that is safe to lose: the keys are unreachable by refresh and expire.
-- KEYS[1] user:sessions:{u}
-- ARGV[1] session id  ARGV[2] expiry (unix ms, the score)  ARGV[3] most live sessions
-- per user (>= 1)  ARGV[4] now (unix ms)
-- Returns the ids of the sessions it ended.
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
-- The index must outlive its longest session (-1: just created, no expiry yet).
if redis.call('PEXPIRETIME', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
-- Expired sessions do not count (their keys are gone with their score).
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
local ended = {}
if excess <= 0 then return ended end
-- The earliest to expire, one more in case the new session is among them.
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, excess)) do
  if excess == 0 then break end
  if id ~= ARGV[1] then
    redis.call('ZREM', KEYS[1], id)
    ended[#ended + 1] = id
    excess = excess - 1
  end
end
return ended
