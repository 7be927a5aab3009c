-- submit.lua: queue new jobs, or answer the record of a known id.
-- KEYS: queue:<q>.
-- ARGV: prefix, accepted_by, queue, timeout, max_attempts, ttl,
--       traceparent ('' when unset; the same for every job of one call),
--       then per job: id, data.
-- Atomic because the check for an existing record and the creation of the
-- new one must not interleave with another submission of the same id:
-- that is what makes the callback id an idempotency key.
-- The ids queued are also pushed on the bounded list recent (newest
-- first), which the web console shows.
-- Returns per job 0 (queued) or the existing record as field/value pairs.
local P, by, q = ARGV[1], ARGV[2], ARGV[3]
local timeout, maxa, ttl, trace = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
-- Numbers given to redis.call are formatted with "%.17g", dearer than
-- the HSET itself: NOW is formatted once, as a string.
local now = string.format('%d', NOW)
-- The fields a new record has besides s, d, b and c: only those that are
-- not the default (see common.lua).
local extra = {}
if q ~= 'default' then extra[#extra + 1] = 'q'; extra[#extra + 1] = q end
if timeout ~= '' then
  extra[#extra + 1] = 'o'; extra[#extra + 1] = timeout
end
if maxa ~= '' then extra[#extra + 1] = 'm'; extra[#extra + 1] = maxa end
if ttl ~= '' and tonumber(ttl) ~= WQ_TTL_DEFAULT then
  extra[#extra + 1] = 'l'; extra[#extra + 1] = ttl
end
if trace ~= '' then extra[#extra + 1] = 'x'; extra[#extra + 1] = trace end
local out, fresh, n = {}, {}, 0
for a = 8, #ARGV, 2 do
  local id = ARGV[a]
  local jk = P .. 'job:' .. id
  if redis.call('EXISTS', jk) == 1 then
    out[#out + 1] = redis.call('HGETALL', jk)
  else
    redis.call('HSET', jk, 's', 'pending', 'd', ARGV[a + 1], 'b', by,
      'c', now, unpack(extra))
    out[#out + 1] = 0
    n = n + 1
    fresh[n] = id
  end
end
if n > 0 then
  -- The new ids with one LPUSH (a call less per job than one LPUSH each).
  wq_lpush(KEYS[1], fresh, n)
  redis.call('SADD', P .. 'queues', q)
  redis.call('PUBLISH', P .. 'wake:' .. q, '1')
  redis.call('INCRBY', P .. 'stats:submitted', n)
  -- "recent" is trimmed when it has grown by 50, not at every call (a
  -- call fewer for a submission of one job, the API's case): its readers
  -- take the first WQ_RECENT_MAX.
  if redis.call('LPUSH', P .. 'recent',
      unpack(fresh, math.max(1, n - WQ_RECENT_MAX + 1), n)) >
      WQ_RECENT_MAX + 50 then
    redis.call('LTRIM', P .. 'recent', 0, WQ_RECENT_MAX - 1)
  end
end
return out
