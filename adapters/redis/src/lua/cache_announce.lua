-- RedisAnnouncer: publishes a message.created envelope on the chat's channel (the
-- same channel, command and payload as RedisEventBus::publish), then does
-- cache_message's window and watermark work, in one round trip. The publish goes
-- first so that a cache half that fails (unreadable window JSON) cannot keep the
-- event from other instances. The command is PUBLISH, or in Cluster mode SPUBLISH
-- on the shard channel `chat:{chatId}`, which shares the chat's slot.
-- KEYS[1] chat:recent:{chat}  KEYS[2] chat:changed:{chat}
-- ARGV[1..6] as cache_message.lua  ARGV[7] channel  ARGV[8] payload
-- ARGV[9] PUBLISH or SPUBLISH
-- Returns {outcome, suspect}.
redis.call(ARGV[9], ARGV[7], ARGV[8])
local outcome, suspect = write_through(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), ARGV[3],
  tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6])
return {outcome, suspect}
