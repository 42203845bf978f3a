-- One page of the users online or away, by id, among the slots the caller names,
-- all served by the node the script runs on (a single server serves every slot).
-- Each slot's users:online:by_id:{tag} zset holds the ids of its online set with
-- score 0, so it orders them lexically, which for lowercase hyphenated UUIDs is
-- their byte order, and a slot's walk starts at the cursor in O(log n). The slots'
-- walks are merged (a heap, a few ids per slot read at a time) until the page is
-- full; ids whose record expired or reads offline are skipped (the cleanup job
-- announces them). The caller merges the nodes' pages the same way: each node
-- returns at most `limit`, the smallest ids of its slots.
-- Read-only; the keys are not declared (they are on many slots, all local), which
-- the flags allow.
-- ARGV[1], ARGV[2] the text before and after a slot tag in an online set's name
-- ARGV[3], ARGV[4] the same for a by-id zset  ARGV[5], ARGV[6] the same around a
-- user id in a presence key  ARGV[7] the id to start after ('' for the first)
-- ARGV[8] limit (>= 1)  ARGV[9..] slot tags
-- Returns {online users of these slots (SCARD), record (JSON)...}.
local limit = tonumber(ARGV[8])
local batch = math.min(limit, 16)
local start = '-'
if ARGV[7] ~= '' then start = '(' .. ARGV[7] end

local heap = {}
local function push(e)
  heap[#heap + 1] = e
  local i = #heap
  while i > 1 do
    local p = math.floor(i / 2)
    if heap[p].id <= heap[i].id then break end
    heap[p], heap[i] = heap[i], heap[p]
    i = p
  end
end
local function pop()
  local top = heap[1]
  heap[1] = heap[#heap]
  heap[#heap] = nil
  local i, n = 1, #heap
  while true do
    local l, r, m = 2 * i, 2 * i + 1, i
    if l <= n and heap[l].id < heap[m].id then m = l end
    if r <= n and heap[r].id < heap[m].id then m = r end
    if m == i then break end
    heap[m], heap[i] = heap[i], heap[m]
    i = m
  end
  return top
end
-- Pushes a slot's next id, reading its next few ids when its batch is used up.
local function advance(s)
  s.pos = s.pos + 1
  if s.pos > #s.ids then
    if not s.more then return end
    s.ids = redis.call('ZRANGE', s.zset, s.from, '+', 'BYLEX', 'LIMIT', 0, batch)
    s.pos = 1
    s.more = #s.ids == batch
    if #s.ids == 0 then return end
    s.from = '(' .. s.ids[#s.ids]
  end
  s.id = s.ids[s.pos]
  push(s)
end

local total = 0
for i = 9, #ARGV do
  local n = redis.call('SCARD', ARGV[1] .. ARGV[i] .. ARGV[2])
  if n > 0 then
    total = total + n
    advance({zset = ARGV[3] .. ARGV[i] .. ARGV[4], from = start, ids = {}, pos = 0, more = true})
  end
end
local out = {total}
while #out <= limit and #heap > 0 do
  local s = pop()
  local rec = redis.call('GET', ARGV[5] .. s.id .. ARGV[6])
  if rec and cjson.decode(rec)['status'] ~= 'offline' then
    out[#out + 1] = rec
  end
  advance(s)
end
return out
