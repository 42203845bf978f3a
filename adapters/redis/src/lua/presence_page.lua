-- One page of the users online or away, by id. users:online:by_id holds the ids of
-- users:online with score 0, so the zset orders them lexically, which for
-- lowercase hyphenated UUIDs is their byte order, and a page starts at its cursor
-- in O(log n). Ids whose record expired or reads offline are skipped (the cleanup
-- job announces them) and the walk goes on until the page is full or the set ends.
-- Per-user keys are derived from the prefix (single-node Redis, as the cleanup).
-- KEYS[1] users:online  KEYS[2] users:online:by_id
-- ARGV[1] key prefix  ARGV[2] the id to start after ('' for the first)  ARGV[3] limit
-- Returns {total online, record (JSON)...}.
local limit = tonumber(ARGV[3])
local from = '-'
if ARGV[2] ~= '' then from = '(' .. ARGV[2] end
local out = {redis.call('SCARD', KEYS[1])}
local found = 0
while found < limit do
  local ids = redis.call('ZRANGE', KEYS[2], from, '+', 'BYLEX', 'LIMIT', 0, limit)
  for _, id in ipairs(ids) do
    local rec = redis.call('GET', ARGV[1] .. 'user:presence:' .. id)
    if rec and cjson.decode(rec)['status'] ~= 'offline' then
      found = found + 1
      out[found + 1] = rec
      if found == limit then break end
    end
  end
  if #ids < limit then break end
  from = '(' .. ids[#ids]
end
return out
