-- Rotates a session's refresh token: replaces it only while it still holds the
-- expected refresh-token hash, so of concurrent refreshes with one token one wins.
-- The user's index was given the new expiry just before (session_index.lua).
-- With ARGV[6] = '1' (reuse detection), a live session of that user holding another
-- hash is ended instead: the presented token was already used. Ending is the DEL of
-- the session key, in this script, so it is atomic with the decision everywhere.
-- KEYS[1] session:{id}  KEYS[2] (single server and Sentinel only) user:sessions:{u},
-- whose entry is then dropped in the same step; in Cluster mode the index lives on
-- another slot, and the caller drops the entry after (an entry without a session is
-- dropped on read anyway).
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
  if KEYS[2] then redis.call('ZREM', KEYS[2], ARGV[4]) end
  return 2
end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
return 1
