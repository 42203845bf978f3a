-- update_cached, the chat's half (the copy's half is cache_copy.lua): an edit, pin
-- or unpin reaches the window entry and the pinned-set membership, each only over an
-- older version; the copy is indexed; the watermark is raised. Creates no window
-- and no pinned set.
-- A pinned set knows every message's membership as of the `as_of` it was read at
-- (the value of its EMPTY field), a member's as of its message version, a message
-- that left it as of the version its `~unpinned:<version>` marker records: a change
-- is applied only when it is newer than what the set knows, so a pin written
-- through after its own unpin (or after the set was read) stays out.
-- KEYS[1] chat:recent:{chat}  KEYS[2] chat:pinned:{chat}  KEYS[3] chat:messages:{chat}
-- KEYS[4] chat:changed:{chat}
-- ARGV[1] message JSON  ARGV[2] seq  ARGV[3] id  ARGV[4] version  ARGV[5] '1' if
-- pinned else ''  ARGV[6] ttl ms  ARGV[7] index limit
local id, version = ARGV[3], tonumber(ARGV[4])
for i, item in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if item ~= EMPTY then
    local cached = cjson.decode(item)
    if cached['id'] == id then
      if (cached['version'] or 0) < version then
        redis.call('LSET', KEYS[1], i - 1, ARGV[1])
      end
      break
    end
  end
end
local as_of = redis.call('HGET', KEYS[2], EMPTY)
if as_of then
  local known = tonumber(as_of)
  local entry = redis.call('HGET', KEYS[2], id)
  if entry then
    known = pin_version(entry)
  end
  if known < version then
    if ARGV[5] == '1' then
      redis.call('HSET', KEYS[2], id, ARGV[1])
    else
      redis.call('HSET', KEYS[2], id, UNPINNED .. ARGV[4])
    end
  end
end
index_add(KEYS[3], {ARGV[2], id}, ARGV[6], tonumber(ARGV[7]))
raise_watermark(KEYS[4], version, ARGV[6])
return 1
