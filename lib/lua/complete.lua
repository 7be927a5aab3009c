-- complete.lua: record how claimed jobs ended.
-- KEYS: active:<node>.
-- ARGV: prefix, node, then per job: id, token, kind
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
-- Waiters (wq-status --wait, the API's ?wait) subscribe to done:<id>
-- before they read the record; the PUBLISH is made only to channels that
-- have a subscriber (one PUBSUB NUMSUB for the whole call, SHARDNUMSUB
-- in a namespace of several partitions: wq_numsub), since a drain
-- with nobody waiting would otherwise spend a call per job on it.  The
-- subscriber count and the record's change are one atomic step: a waiter
-- that subscribes later reads the final record.  A waiter that follows
-- many jobs at once subscribes to ended instead, where one message names
-- every job the call ended (the ids, between spaces).
-- A job with children (k: link.lua) that ends is noted in deps
-- (wq_deps_note) and answered with a '!' (worked!, failed!): the caller
-- then tells its children (release.lua), or the sweep does after a crash.
-- Returns per job: worked | pending | failed | stale, maybe with '!'.
local P, node = ARGV[1], ARGV[2]
local out, nout, nworked, nretried = {}, 0, 0, 0
-- lat: jobs worked by bucket of WQ_LATENCY_BOUNDS (one past them: +Inf),
-- named once per call (tostring() formats with printf).
local lat, latsum = {}, 0
local nbounds = #WQ_LATENCY_BOUNDS
local done, ids, ndone = {}, {}, 0
local evs = {}  -- the worked events, one entry a queue (common.lua)
-- Numbers given to redis.call are formatted with "%.17g": the default
-- TTL as a string, made once.
local ttl_default = string.format('%d', WQ_TTL_DEFAULT)
-- Jobs mostly end in the order they were claimed: when the outcomes are
-- exactly the oldest entries of the active list, one LTRIM drops them all.
local n = (#ARGV - 2) / 5
local oldest = redis.call('LRANGE', KEYS[1], -n, -1)
local trim = #oldest == n
if trim then
  local seen = {}
  for _, id in ipairs(oldest) do seen[id] = true end
  for a = 3, #ARGV, 5 do
    if not seen[ARGV[a]] then trim = false break end
    seen[ARGV[a]] = nil
  end
end
if trim then redis.call('LTRIM', KEYS[1], 0, -n - 1) end
for a = 3, #ARGV, 5 do
  local id, tok, kind, payload = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local jk = P .. 'job:' .. id
  local st
  if not trim then redis.call('LREM', KEYS[1], -1, id) end
  -- Only what the common case needs: each field is a scan of the hash.
  local f = redis.call('HMGET', jk, 's', 'w', 'a', 'l', 'c', 'e', 'k', 'q')
  local ttl = f[4] or ttl_default
  if f[2] == node and f[3] == tok and kind == 'ok' and f[1] == 'worked' then
    -- recorded already: the reply to an earlier call was lost
    st = f[7] and 'worked!' or 'worked'
  elseif f[1] ~= 'working' or f[2] ~= node or f[3] ~= tok then
    st = 'stale'
  elseif kind == 'ok' then
    local ms = NOW - (tonumber(f[5]) or NOW)
    redis.call('HSET', jk, 's', 'worked', 'r', payload,
      'f', string.format('%d', ms))
    if f[6] then redis.call('HDEL', jk, 'e') end
    redis.call('EXPIRE', jk, ttl)
    wq_batch_add(evs, f[8] or 'default', id, tok)
    ndone = ndone + 1
    done[ndone] = P .. 'done:' .. id
    ids[ndone] = id
    nworked = nworked + 1
    latsum = latsum + ms
    local b = nbounds + 1
    for k = 1, nbounds do
      if ms <= WQ_LATENCY_BOUNDS[k] then b = k break end
    end
    lat[b] = (lat[b] or 0) + 1
    st = 'worked'
    if f[7] then
      wq_deps_note(P, jk, id, 0)
      st = 'worked!'
    end
  else
    local g = redis.call('HMGET', jk, 'q', 'm')
    local q, maxa = g[1] or 'default', g[2]
    if kind == 'fail' then
      if tonumber(f[3]) >= tonumber(maxa or '1') then
        st = wq_fail_final(P, jk, id, q, payload, ttl, f[5], node, tok) and
          'failed!' or 'failed'
      else
        local due = NOW + tonumber(ARGV[a + 4])
        redis.call('HSET', jk, 's', 'pending', 'e', payload, 'y',
          string.format('%d', due))
        redis.call('ZADD', P .. 'delayed:' .. q, due, id)
        redis.call('ZADD', P .. 'later', 'LT', due, q)
        wq_event(P, 'retried', id, q, node, 'a', tok, 'e', payload, 'y',
          string.format('%d', due))
        nretried = nretried + 1
        st = 'pending'
      end
    else
      wq_handback(P, jk, id, q)
      st = 'pending'
    end
  end
  nout = nout + 1
  out[nout] = st
end
wq_batch_write(P, evs, 'worked', node)
if ndone > 0 and wq_numsub(P .. 'ended')[2] > 0 then
  wq_publish(P .. 'ended', table.concat(ids, ' ', 1, ndone))
end
-- (in slices: unpack() is bounded by Lua's C stack)
for i = 1, ndone, 1000 do
  local last = math.min(i + 999, ndone)
  local subs = wq_numsub(unpack(done, i, last))
  for k = i, last do
    if subs[2 * (k - i + 1)] > 0 then
      wq_publish(done[k], 'worked')
    end
  end
end
if nworked > 0 then
  redis.call('INCRBY', P .. 'stats:worked', nworked)
  for b, c in pairs(lat) do
    redis.call('HINCRBY', P .. 'stats:latency', b > nbounds and '+Inf' or
      string.format('%d', WQ_LATENCY_BOUNDS[b]), c)
  end
  redis.call('HINCRBY', P .. 'stats:latency', 'sum', latsum)
  redis.call('HINCRBY', P .. 'stats:latency', 'count', nworked)
end
if nretried > 0 then redis.call('INCRBY', P .. 'stats:retried', nretried) end
return out
