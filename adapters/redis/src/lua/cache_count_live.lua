-- How many of the given message keys hold a message (not a tombstone).
-- KEYS message:{id}...  ARGV[1] tombstone marker
local live = 0
for _, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if value and value ~= ARGV[1] then live = live + 1 end
end
return live
