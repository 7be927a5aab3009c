-- submit.lua: queue new jobs, or answer the record of a known id.
-- KEYS: job:<id>, queue:<q> for each job, in pairs.
-- ARGV: prefix, accepted_by, then per job: id, queue, data, timeout,
--       max_attempts, ttl ('' when unset).
-- Atomic because the check for an existing record and the creation of the
-- new one must not interleave with another submission of the same id:
-- that is what makes the callback id an idempotency key.
-- The ids queued are also pushed on the bounded list recent (newest
-- first), which the web console shows.
-- Returns per job 0 (queued) or the existing record as field/value pairs.
local P, by = ARGV[1], ARGV[2]
local out, woke, n, fresh = {}, {}, 0, {}
-- The new ids of each queue, pushed with one LPUSH per queue at the end
-- (the same list as one LPUSH per job, for a call less per job).
local push = {}
-- Numbers given to redis.call are formatted with "%.17g", dearer than
-- the HSET itself: NOW is formatted once, as a string.
local now = string.format('%d', NOW)
local a = 3
for i = 1, #KEYS, 2 do
  local jk, qk = KEYS[i], KEYS[i + 1]
  local id, q, data = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local timeout, maxa, ttl = ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
  a = a + 6
  if redis.call('EXISTS', jk) == 1 then
    out[#out + 1] = redis.call('HGETALL', jk)
  else
    redis.call('HSET', jk, 'callback', id, 'status', 'pending', 'data', data,
      'queue', q, 'accepted_by', by, 'attempts', '0', 'created_at', now,
      'ttl', ttl)
    if timeout ~= '' then redis.call('HSET', jk, 'timeout', timeout) end
    if maxa ~= '' then redis.call('HSET', jk, 'max_attempts', maxa) end
    if not push[qk] then push[qk] = {} end
    push[qk][#push[qk] + 1] = id
    out[#out + 1] = 0
    woke[q] = true
    n = n + 1
    fresh[n] = id
  end
end
for qk, ids in pairs(push) do
  for i = 1, #ids, 1000 do
    redis.call('LPUSH', qk, unpack(ids, i, math.min(i + 999, #ids)))
  end
end
for q in pairs(woke) do
  redis.call('SADD', P .. 'queues', q)
  redis.call('PUBLISH', P .. 'wake:' .. q, '1')
end
if n > 0 then
  redis.call('INCRBY', P .. 'stats:submitted', n)
  redis.call('LPUSH', P .. 'recent', unpack(fresh))
  redis.call('LTRIM', P .. 'recent', 0, 99)
end
return out
