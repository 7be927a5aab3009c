-- queue.lua: pause, resume or purge a queue (docs/DESIGN.md, Job
-- control).
-- KEYS: queue:<q> (which places the call on a cluster); paused, queues,
--       queue:<q>, urgent:<q>, delayed:<q> and the records of the jobs
--       purged are built from the prefix.
-- ARGV: prefix, op (pause, resume, purge), queue, then for purge the
--       name of the node that purges and how many ids to take at most.
-- pause: the queue joins the set "paused", which claim.lua passes over
-- whoever claims (so it holds for every worker, at once); work is still
-- queued to it.  resume: it leaves the set, and its sleepers are woken.
-- purge: the next ids of queue:<q> (of urgent:<q> or of its groups for
-- its markers), then of delayed:<q>, up to the count, are taken off, and
-- those pending become cancelled (as with cancel.lua); the caller calls
-- again until fewer come.
-- Atomic so that a job purged is never claimed as well: the pop, the
-- status read and its change are one.
-- Returns pause, resume: 1 changed, 0 it was so already; purge: {ids
-- taken off, jobs cancelled}.
local P, op, q = ARGV[1], ARGV[2], ARGV[3]
if op == 'pause' then
  redis.call('SADD', P .. 'queues', q)
  return redis.call('SADD', P .. 'paused', q)
elseif op == 'resume' then
  local n = redis.call('SREM', P .. 'paused', q)
  wq_publish(P .. 'wake:' .. q, P)
  return n
end
local by, max = ARGV[4], tonumber(ARGV[5])
local ids = redis.call('RPOP', P .. 'queue:' .. q, max) or {}
for i = 1, #ids do
  if ids[i] == '^' then
    -- a marker: the best of urgent:<q> (wq_enqueue)
    ids[i] = redis.call('ZPOPMIN', P .. 'urgent:' .. q)[1] or '^'
  elseif ids[i] == '@' then
    -- a group's (wq_enqueue)
    ids[i] = wq_group_pop(P, q) or '@'
  end
end
if #ids < max then
  local d = redis.call('ZPOPMIN', P .. 'delayed:' .. q, max - #ids)
  for i = 1, #d, 2 do ids[#ids + 1] = d[i] end
end
local n = 0
for _, id in ipairs(ids) do
  local jk = P .. 'job:' .. id
  local f = redis.call('HMGET', jk, 's', 'l', 'c')
  if f[1] == 'pending' then
    wq_cancelled(P, jk, id, by, f[2], f[3], q)
    n = n + 1
  end
end
return {#ids, n}
