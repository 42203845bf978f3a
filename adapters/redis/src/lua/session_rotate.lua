-- Rotates a session's refresh token: replaces it only while it still holds the
-- expected refresh-token hash, so of concurrent refreshes with one token one wins.
-- The user's index was given the new expiry just before (session_index.lua).
-- KEYS[1] session:{id}
-- ARGV[1] expected refresh_token_hash  ARGV[2] new JSON  ARGV[3] expiry (unix ms)
-- ARGV[4] session id  ARGV[5] user id
-- Returns 1 when replaced, 0 when absent (expired keys are absent) or another
-- refresh won, -1 when the stored JSON cannot be read.
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local ok, stored = pcall(cjson.decode, cur)
if not ok or type(stored) ~= 'table' then return -1 end
if stored.refresh_token_hash ~= ARGV[1] or stored.user_id ~= ARGV[5] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
return 1
