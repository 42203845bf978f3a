-- Rotates a session's refresh token: replaces it only while it still holds the
-- expected refresh-token hash, so of concurrent refreshes with one token one wins.
-- With ARGV[6] = '1' (reuse detection), a live session of that user holding another
-- hash is ended instead: the presented token was already used.
-- KEYS[1] session:{id}  KEYS[2] user:sessions:{u}
-- ARGV[1] expected refresh_token_hash  ARGV[2] new JSON  ARGV[3] expiry (unix ms)
-- ARGV[4] session id  ARGV[5] user id  ARGV[6] '1' to end the session on a mismatch
-- Returns 1 when replaced, 0 when absent (expired keys are absent), another user's, or
-- (without reuse detection) another refresh won, 2 when ended, -1 when the stored
-- JSON cannot be read.
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local ok, stored = pcall(cjson.decode, cur)
if not ok or type(stored) ~= 'table' then return -1 end
if stored.user_id ~= ARGV[5] then return 0 end
if stored.refresh_token_hash ~= ARGV[1] then
  if ARGV[6] ~= '1' then return 0 end
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[4])
  return 2
end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
-- The index must outlive its longest session (-1: just created, no expiry yet).
if redis.call('PEXPIRETIME', KEYS[2]) < tonumber(ARGV[3]) then
  redis.call('PEXPIREAT', KEYS[2], ARGV[3])
end
return 1
