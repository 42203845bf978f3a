-- One hit on a fixed window: the INCR and the window's expiry happen together, so
-- a counter can never be left without a TTL.
-- KEYS[1] throttle:{policy}:{subject}:{route}   ARGV[1] window ms
-- Returns {hits in this window, ms until it ends}.
local hits = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if hits == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {hits, ttl}
