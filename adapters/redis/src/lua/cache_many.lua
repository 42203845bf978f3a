-- Caches messages by id and indexes them by seq, skipping tombstoned ids.
-- No keys or args of its own: the messages' pairs and fours start at 1 and 3.
local stored = 0
for _, m in ipairs(messages(1, 3)) do
  if not tombstoned(m) then
    store(m, false)
    stored = stored + 1
  end
end
return stored
