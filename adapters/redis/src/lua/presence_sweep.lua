-- Reads the online sets of the slots the caller names, all served by the node the
-- script runs on (a single server serves every slot): one round trip per node
-- instead of one command per slot. Read-only; the keys are not declared (they are
-- on many slots, all local), which the flags allow.
-- ARGV[1], ARGV[2] the text before and after a slot tag in an online set's name
-- ARGV[3..] slot tags
-- Returns {tag, members, tag, members, ...} for the sets that are not empty.
local out = {}
for i = 3, #ARGV do
  local members = redis.call('SMEMBERS', ARGV[1] .. ARGV[i] .. ARGV[2])
  if #members > 0 then
    out[#out + 1] = ARGV[i]
    out[#out + 1] = members
  end
end
return out
