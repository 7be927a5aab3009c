-- complete.lua: record how claimed jobs ended.
-- KEYS: active:<node>.
-- ARGV: prefix, node, default ttl, then per job: id, token, kind
--       (ok | fail | back), payload (result JSON or error text), retry ms.
-- Fencing: an outcome is accepted only while the record is still working,
-- under this node, with this token (attempt number).  A node whose claim
-- was taken away (it froze, or lost its link, and was reaped) gets "stale"
-- and changes nothing.  Atomic so that the check and the write are one.
-- ok: worked, expires after its TTL, waiters are told.
-- fail: back to pending via delayed:<q> after the backoff, or failed for
--       good when its attempts are spent.
-- back: handed back unfinished (drain): pending at the head of its queue,
--       the attempt not counted.
-- Returns per job: worked | pending | failed | stale.
local P, node, dttl = ARGV[1], ARGV[2], ARGV[3]
-- Numbers given to redis.call are formatted with "%.17g", which costs
-- more than the command they go to: the time and the TTLs are passed as
-- strings (a record's ttl is one already), NOW formatted once.
local now = string.format('%d', NOW)
local out, nout, nworked, nretried = {}, 0, 0, 0
local lat, latsum = {}, 0
local bounds = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000,
  10000, 30000, 60000}
-- The buckets' names, made once: tostring() formats with printf.
local names = {'1', '2', '5', '10', '25', '50', '100', '250', '500', '1000',
  '2500', '5000', '10000', '30000', '60000'}
-- Jobs mostly end in the order they were claimed: when the outcomes are
-- exactly the oldest entries of the active list, one LTRIM drops them all.
local n = (#ARGV - 3) / 5
local oldest = redis.call('LRANGE', KEYS[1], -n, -1)
local trim = #oldest == n
if trim then
  local seen = {}
  for _, id in ipairs(oldest) do seen[id] = true end
  for a = 4, #ARGV, 5 do
    if not seen[ARGV[a]] then trim = false break end
    seen[ARGV[a]] = nil
  end
end
if trim then redis.call('LTRIM', KEYS[1], 0, -n - 1) end
for a = 4, #ARGV, 5 do
  local id, tok, kind, payload = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local jk = P .. 'job:' .. id
  local st
  if not trim then redis.call('LREM', KEYS[1], -1, id) end
  -- Only what the common case needs: each field is a scan of the hash.
  local f = redis.call('HMGET', jk, 'status', 'worker', 'attempts', 'ttl',
    'created_at', 'error')
  local ttl = f[4]
  if not tonumber(ttl) then ttl = dttl end
  local q, maxa
  if kind ~= 'ok' then
    local g = redis.call('HMGET', jk, 'queue', 'max_attempts')
    q, maxa = g[1] or 'default', g[2]
  end
  if f[2] == node and f[3] == tok and kind == 'ok' and f[1] == 'worked' then
    -- recorded already: the reply to an earlier call was lost
    st = 'worked'
  elseif f[1] ~= 'working' or f[2] ~= node or f[3] ~= tok then
    st = 'stale'
  elseif kind == 'ok' then
    redis.call('HSET', jk, 'status', 'worked', 'result', payload,
      'finished_at', now)
    if f[6] then redis.call('HDEL', jk, 'error') end
    redis.call('EXPIRE', jk, ttl)
    redis.call('PUBLISH', P .. 'done:' .. id, 'worked')
    nworked = nworked + 1
    local ms = NOW - (tonumber(f[5]) or NOW)
    latsum = latsum + ms
    local b = '+Inf'
    for k = 1, #bounds do
      if ms <= bounds[k] then b = names[k] break end
    end
    lat[b] = (lat[b] or 0) + 1
    st = 'worked'
  elseif kind == 'fail' then
    if tonumber(f[3]) >= tonumber(maxa or '1') then
      wq_fail_final(P, jk, id, q, payload, ttl)
      st = 'failed'
    else
      local due = NOW + tonumber(ARGV[a + 4])
      redis.call('HSET', jk, 'status', 'pending', 'error', payload,
        'retry_at', due)
      redis.call('ZADD', P .. 'delayed:' .. q, due, id)
      nretried = nretried + 1
      st = 'pending'
    end
  else
    redis.call('HINCRBY', jk, 'attempts', -1)
    redis.call('HSET', jk, 'status', 'pending')
    redis.call('HDEL', jk, 'worker', 'started_at')
    redis.call('RPUSH', P .. 'queue:' .. q, id)
    redis.call('PUBLISH', P .. 'wake:' .. q, '1')
    st = 'pending'
  end
  nout = nout + 1
  out[nout] = st
end
if nworked > 0 then
  redis.call('INCRBY', P .. 'stats:worked', nworked)
  for b, c in pairs(lat) do
    redis.call('HINCRBY', P .. 'stats:latency', b, c)
  end
  redis.call('HINCRBY', P .. 'stats:latency', 'sum', latsum)
  redis.call('HINCRBY', P .. 'stats:latency', 'count', nworked)
end
if nretried > 0 then redis.call('INCRBY', P .. 'stats:retried', nretried) end
return out
