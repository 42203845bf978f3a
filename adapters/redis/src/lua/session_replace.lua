-- Replaces a live session (optionally only if it still holds ARGV[1], for
-- read-modify-write callers) and moves its index entry to the new expiry.
-- KEYS[1] session:{id}  KEYS[2] user:sessions:{u}
-- ARGV[1] expected JSON or ''  ARGV[2] new JSON  ARGV[3] ttl ms  ARGV[4] expiry (unix ms)  ARGV[5] session id
-- Returns 1 when replaced, 0 when absent, -1 when it changed under the caller.
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
if ARGV[1] ~= '' and cur ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return 1
