-- submit.lua: queue new jobs, or answer the record of a known id.
-- KEYS: queue:<q> (the rest are named from the prefix).
-- ARGV: prefix, accepted_by, queue, timeout, max_attempts, ttl ('' the
--       default), traceparent ('' when unset; the same for every job of
--       one call), how many options follow: 0 when all have their
--       default (a plain job: each argument costs Redis as much as a
--       tenth of the rest of the call), else 6: when to run ('' now,
--       '+MS' after a delay, 'MS' at a time since the epoch), priority
--       (0 to WQ_PRIORITY_MAX), the most queues there may be
--       (--max-queues), after (the parents' ids, a JSON array, or ''),
--       ms to add to the grace of the deps entry (0 when the caller links
--       the jobs at once, -grace to leave it to the next sweep), the
--       group ('' none); then per job: id, data.
-- A queue not yet in "queues" is refused when there are that many
-- already: an error reply WQQUEUES, before anything is written (the
-- caller's exit 2, the API's 422).  queues:used keeps when each queue was
-- last submitted to (to the second), for the sweep to drop those empty
-- and unused for WQ_QUEUE_IDLE_MS (heartbeat.lua).
-- A job with parents is waiting: wait:<id> holds them, and deps the
-- entry c:<id>, until the links are made (link.lua on each parent, then
-- release.lua for those that ended already; the entry is then removed).
-- It is queued when the last parent has worked (release.lua).
-- A job of priority above 0 goes to urgent:<q>, one of a group to
-- group:<q>:<g> (common.lua, wq_enqueue).
-- A job to run later is pending with its time in u (run_at) and waits in
-- delayed:<q>, scored by that time, until a worker or the sweep promotes
-- it (promote.lua, heartbeat.lua); due:<q> tells the queue's workers
-- when, so that they promote it on time without polling.
-- Atomic because the check for an existing record and the creation of the
-- new one must not interleave with another submission of the same id:
-- that is what makes the callback id an idempotency key.
-- The ids queued are also pushed on the bounded list recent (newest
-- first), which the web console shows.
-- Returns per job 0 (queued) or the existing record as field/value pairs.
local P, by, q = ARGV[1], ARGV[2], ARGV[3]
local run, prio, maxq, after, late, group = '', 0, WQ_MAX_QUEUES_DEFAULT, '',
  0, nil
local first = 9		-- the first job's id
if ARGV[8] ~= '0' then
  run, prio, maxq, after = ARGV[9], tonumber(ARGV[10]), ARGV[11], ARGV[12]
  late, group = tonumber(ARGV[13]), ARGV[14] ~= '' and ARGV[14] or nil
  first = 15
end
-- A queue in queues:used is in "queues" (the sweep takes it off both at
-- once): then one ZSCORE is all the check, and its time is written again
-- only when its second has changed, far finer than WQ_QUEUE_IDLE_MS.
local used = redis.call('ZSCORE', P .. 'queues:used', q)
if not used and redis.call('SISMEMBER', P .. 'queues', q) == 0 and
    redis.call('SCARD', P .. 'queues') >= tonumber(maxq) then
  return redis.error_reply('WQQUEUES ' .. maxq)
end
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
local parents, status = nil, 'pending'
if after ~= '' then
  parents = cjson.decode(after)
  status = 'waiting'
  extra[#extra + 1] = 'h'; extra[#extra + 1] = after
end
if prio > 0 then extra[#extra + 1] = 'p'; extra[#extra + 1] = ARGV[10] end
if group then extra[#extra + 1] = 'n'; extra[#extra + 1] = group end
local due
if run ~= '' then
  if string.sub(run, 1, 1) == '+' then
    due = NOW + tonumber(string.sub(run, 2))
  else
    due = tonumber(run)
  end
  extra[#extra + 1] = 'u'; extra[#extra + 1] = string.format('%d', due)
  if due <= NOW then due = nil end
end
local out, fresh, n = {}, {}, 0
for a = first, #ARGV, 2 do
  local id = ARGV[a]
  local jk = P .. 'job:' .. id
  if redis.call('EXISTS', jk) == 1 then
    out[#out + 1] = redis.call('HGETALL', jk)
  else
    redis.call('HSET', jk, 's', status, 'd', ARGV[a + 1], 'b', by,
      'c', now, unpack(extra))
    out[#out + 1] = 0
    n = n + 1
    fresh[n] = id
  end
end
if n > 0 and parents then
  for i = 1, n do
    redis.call('SADD', P .. 'wait:' .. fresh[i], unpack(parents))
    redis.call('ZADD', P .. 'deps', string.format('%d', NOW + late),
      'c:' .. fresh[i])
  end
elseif n > 0 and due then
  local dues = string.format('%d', due)
  local dk = P .. 'delayed:' .. q
  for i = 1, n do redis.call('ZADD', dk, dues, fresh[i]) end
  redis.call('ZADD', P .. 'later', 'LT', dues, q)
  wq_publish(P .. 'due:' .. q, dues)
elseif n > 0 then
  -- The new ids with one LPUSH (a call less per job than one LPUSH each).
  wq_enqueue(P, q, fresh, n, prio, group)
  wq_publish(P .. 'wake:' .. q, P)
end
if n > 0 then
  if not used then
    redis.call('SADD', P .. 'queues', q)
    redis.call('ZADD', P .. 'queues:used', now, q)
  elseif string.sub(used, 1, -4) ~= string.sub(now, 1, -4) then
    redis.call('ZADD', P .. 'queues:used', now, q)
  end
  redis.call('INCRBY', P .. 'stats:submitted', n)
  if WQ_EVENTS then
    -- one entry for all (common.lua, wq_batch_write)
    wq_batch_entry(P, 'submitted', q, fresh, n, by)
  end
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
