-- cache_read, the chat's half: indexes the copies just written (SET NX succeeded)
-- by seq, keeping the newest `limit` seqs, and renews the index's ttl.
-- KEYS[1] chat:messages:{chat}
-- ARGV[1] ttl ms  ARGV[2] limit  ARGV[3..] pairs of seq, message id
local members = {}
for i = 3, #ARGV do
  members[#members + 1] = ARGV[i]
end
index_add(KEYS[1], members, ARGV[1], tonumber(ARGV[2]))
return 1
