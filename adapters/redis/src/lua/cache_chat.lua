-- Shared prelude of the scripts over one chat's keys (prepended to each after the
-- markers EMPTY, TOMBSTONE and UNPINNED, never run alone). Every key such a script
-- declares is one of the chat's (`chat:*:{chatId}`, one hash tag, so one Cluster
-- slot); none touches a `message:{id}` key.

-- The chat's watermark (the highest version written through), or nil.
local function watermark(key)
  return tonumber(redis.call('GET', key))
end

-- Raises the watermark to `version` (never lowers it) and renews its ttl; returns
-- the watermark before, or nil.
local function raise_watermark(key, version, ttl)
  local before = watermark(key)
  if before == nil or before < version then
    redis.call('SET', key, version, 'PX', ttl)
  else
    redis.call('PEXPIRE', key, ttl)
  end
  return before
end

-- Indexes a copy by seq in `chat:messages:{chat}`, keeping the newest `limit` seqs.
-- `members` alternates seq and message id.
local function index_add(key, members, ttl, limit)
  redis.call('ZADD', key, unpack(members))
  local excess = redis.call('ZCARD', key) - limit
  if excess > 0 then
    redis.call('ZREMRANGEBYRANK', key, 0, excess - 1)
  end
  redis.call('PEXPIRE', key, ttl)
end

-- The version a pinned-set entry stands for: a member's message version, or the
-- version an `~unpinned:<version>` marker records.
local function pin_version(entry)
  if string.sub(entry, 1, #UNPINNED) == UNPINNED then
    return tonumber(string.sub(entry, #UNPINNED + 1))
  end
  return cjson.decode(entry)['version'] or 0
end

-- Write-through of a new message into the window (`cache_message`), and the
-- watermark raised to its version. The message right after the head is pushed (an
-- empty window's head counts as seq 0); one the window holds already (same seq or
-- id) leaves it as it was; anything else (an older message the window lacks, or one
-- past a missed seq) could leave a hole, so the window is dropped. No window: none
-- is created. Returns the outcome (1 pushed, 0 unchanged, -1 dropped) and whether
-- the push is suspect: the watermark was above the message's version before, so a
-- delete of it may have been written through already (the caller then checks its
-- tombstone, which this script may not read, and undoes the push).
local function write_through(recent, changed, json, seq, id, version, size, ttl)
  local before = raise_watermark(changed, version, ttl)
  local head = redis.call('LINDEX', recent, 0)
  if not head then
    return 0, 0
  end
  local head_seq = 0
  if head ~= EMPTY then
    head_seq = cjson.decode(head)['seq']
  end
  if seq == head_seq + 1 then
    redis.call('LPUSH', recent, json)
    if head == EMPTY then
      redis.call('LREM', recent, 0, EMPTY)
    end
    redis.call('LTRIM', recent, 0, size - 1)
    redis.call('PEXPIRE', recent, ttl)
    if before ~= nil and before > version then
      return 1, 1
    end
    return 1, 0
  end
  for _, item in ipairs(redis.call('LRANGE', recent, 0, -1)) do
    if item ~= EMPTY then
      local cached = cjson.decode(item)
      if cached['seq'] == seq or cached['id'] == id then
        return 0, 0
      end
    end
  end
  redis.call('UNLINK', recent)
  return -1, 0
end
