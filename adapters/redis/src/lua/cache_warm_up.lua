-- warm_up: creates (or replaces) the chat's window from messages read when the chat
-- stood at `as_of`, newest first (at most the window size, cut by the caller),
-- unless the watermark is above `as_of`: a change written through since the read
-- may be missing from the list. The caller checked the messages' tombstones before
-- (they live on other slots); a delete after that check raised the watermark above
-- any `as_of` read before it, or drops this window after it.
-- KEYS[1] chat:recent:{chat}  KEYS[2] chat:changed:{chat}
-- ARGV[1] as_of  ARGV[2] ttl ms  ARGV[3..] message JSON, newest first
local w = watermark(KEYS[2])
if w ~= nil and w > tonumber(ARGV[1]) then
  return 0
end
redis.call('UNLINK', KEYS[1])
if #ARGV == 2 then
  redis.call('RPUSH', KEYS[1], EMPTY)
else
  redis.call('RPUSH', KEYS[1], unpack(ARGV, 3))
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
