-- Stores a new session and indexes it under its user, refusing an existing id.
-- KEYS[1] session:{id}  KEYS[2] user:sessions:{u}
-- ARGV[1] session JSON  ARGV[2] ttl ms  ARGV[3] expiry (unix ms, the index score)  ARGV[4] session id
-- Returns 0 when the id is taken.
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
-- The index must outlive its longest session.
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return 1
