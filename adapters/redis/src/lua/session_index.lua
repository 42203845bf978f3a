-- Indexes a session under its user ahead of writing the session itself (the
-- session key lives on its own slot): the index must hold every live session, so
-- it is written first, and an entry whose session never came or is gone is
-- dropped on read. The score only grows (a rotation that lost its race leaves a
-- later expiry, which is harmless), and the index outlives its longest session.
-- A rotation ('XX') only moves an entry the index already has: one naming another
-- user's session indexes nothing.
-- KEYS[1] user:sessions:{u}
-- ARGV[1] session id  ARGV[2] expiry (unix ms, the score)  ARGV[3] 'XX' for a rotation
if ARGV[3] == 'XX' then
  if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
    return 0
  end
  redis.call('ZADD', KEYS[1], 'XX', 'GT', ARGV[2], ARGV[1])
else
  redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
end
-- -1: just created, no expiry yet.
if redis.call('PEXPIRETIME', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
return 1
