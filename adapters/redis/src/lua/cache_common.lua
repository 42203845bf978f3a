-- Shared prelude of the cache scripts that take messages (prepended to each, never
-- run alone). Every such script gets ARGV[1] the tombstone marker and ARGV[2] the ttl
-- in ms; its messages come after its own keys and args: keys in pairs
-- (message:{id}, chat:messages:{chat}), args in fours (JSON, seq, id, pin score or '').
local TOMBSTONE = ARGV[1]
local TTL = ARGV[2]

local function messages(first_key, first_arg)
  local list = {}
  local k, a = first_key, first_arg
  while KEYS[k] do
    list[#list + 1] = {
      key = KEYS[k], index = KEYS[k + 1],
      json = ARGV[a], seq = ARGV[a + 1], id = ARGV[a + 2], score = ARGV[a + 3],
    }
    k, a = k + 2, a + 4
  end
  return list
end

-- A deleted id: no write may cache it again until its tombstone expires.
local function tombstoned(m)
  return redis.call('GET', m.key) == TOMBSTONE
end

-- Caches the message by id (only if absent when `missing_only`) and indexes it by seq.
local function store(m, missing_only)
  if missing_only then
    redis.call('SET', m.key, m.json, 'PX', TTL, 'NX')
  else
    redis.call('SET', m.key, m.json, 'PX', TTL)
  end
  redis.call('ZADD', m.index, m.seq, m.id)
  redis.call('PEXPIRE', m.index, TTL)
end
