-- Single server and Sentinel (one node holds every key): stores a new session and
-- indexes it under its user, refusing an existing id; then ends the user's other
-- sessions that expire first until at most ARGV[5] remain, all in one atomic step.
-- The ended sessions' keys are named from ARGV[7] and ARGV[8] (they are not declared:
-- the script is only run where every slot is local; Redis Cluster runs the same
-- decision as session_cap.lua on the index's slot, then deletes the keys).
-- KEYS[1] session:{id}  KEYS[2] user:sessions:{u}
-- ARGV[1] session JSON  ARGV[2] ttl ms  ARGV[3] expiry (unix ms, the index score)
-- ARGV[4] session id  ARGV[5] most live sessions per user (>= 1)  ARGV[6] now (unix ms)
-- ARGV[7], ARGV[8] the text before and after a session id in a session key's name
-- Returns -1 when the id is taken, else how many sessions it ended.
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return -1 end
redis.call('ZADD', KEYS[2], 'GT', ARGV[3], ARGV[4])
-- The index must outlive its longest session (-1: just created, no expiry yet).
if redis.call('PEXPIRETIME', KEYS[2]) < tonumber(ARGV[3]) then
  redis.call('PEXPIREAT', KEYS[2], ARGV[3])
end
-- Expired sessions do not count (their keys are gone with their score).
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[6])
local max = tonumber(ARGV[5])
local excess = redis.call('ZCARD', KEYS[2]) - max
if excess <= 0 then return 0 end
-- The earliest to expire, one more in case the new session is among them.
local oldest = redis.call('ZRANGE', KEYS[2], 0, excess)
local ended = 0
for _, id in ipairs(oldest) do
  if excess == 0 then break end
  if id ~= ARGV[4] then
    ended = ended + redis.call('DEL', ARGV[7] .. id .. ARGV[8])
    redis.call('ZREM', KEYS[2], id)
    excess = excess - 1
  end
end
return ended
