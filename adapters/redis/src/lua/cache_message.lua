-- cache_message: the window and watermark work of a write-through (see
-- `write_through` in cache_chat.lua).
-- KEYS[1] chat:recent:{chat}  KEYS[2] chat:changed:{chat}
-- ARGV[1] message JSON  ARGV[2] seq  ARGV[3] id  ARGV[4] version  ARGV[5] window size
-- ARGV[6] ttl ms
-- Returns {outcome, suspect}.
local outcome, suspect = write_through(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), ARGV[3],
  tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6])
return {outcome, suspect}
