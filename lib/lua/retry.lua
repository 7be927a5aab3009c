-- retry.lua: run failed (or cancelled) jobs again (docs/DESIGN.md, Job
-- control).
-- KEYS: the first job's record, or dead:<q> (which places the call on a
--       cluster); each job's keys (job:<id>, queue:<q>, dead:<q>) are
--       built from the prefix.
-- ARGV: prefix, mode: 'ids' then ids, or 'dead' then a queue and a count:
--       the oldest ids of its dead list, up to count, taken off it.
-- A failed or cancelled job goes back to pending at the tail of its
-- queue (of its priority: wq_enqueue), as a new one: its attempts, error, result, worker and times of
-- the last run are dropped, its id, data and settings kept, and it no
-- longer expires; a failed one leaves dead:<q>.  Fencing still holds:
-- the token starts again at 1, but a claim under an old token of the
-- same node (the only one that could match) has had its outcome
-- recorded, as stale, before that node claims again (a worker records
-- before it claims), and other nodes are fenced off by the node's name.
-- Atomic so that the status read and its change are one: a job is put
-- back once, however many retry it at once.
-- Returns per id {code, id, the record after the call as field/value
-- pairs}:
-- 1 pending again, 0 left as it was (not failed nor cancelled), -1
-- unknown.  In mode 'dead', an id whose record has expired or is no
-- longer failed is dropped and reported -1.
local P, mode = ARGV[1], ARGV[2]
local ids
if mode == 'dead' then
  ids = redis.call('RPOP', P .. 'dead:' .. ARGV[3], tonumber(ARGV[4])) or {}
else
  ids = {unpack(ARGV, 3)}
end
local out, woken = {}, {}
for _, id in ipairs(ids) do
  local jk = P .. 'job:' .. id
  local f = redis.call('HMGET', jk, 's', 'q', 'p', 'n')
  local code = 0
  if not f[1] or (mode == 'dead' and f[1] ~= 'failed') then
    -- (in a dead list: an entry left behind, see wq_lrem_near)
    code = -1
  elseif f[1] == 'failed' or f[1] == 'cancelled' then
    local q = f[2] or 'default'
    if f[1] == 'failed' and mode ~= 'dead' then
      wq_lrem_near(P .. 'dead:' .. q, id)
    end
    redis.call('HDEL', jk, 'a', 'e', 'r', 'w', 't', 'f', 'y', 'u')
    redis.call('HSET', jk, 's', 'pending')
    redis.call('PERSIST', jk)
    wq_enqueue(P, q, {id}, 1, tonumber(f[3] or '0'), f[4] or nil)
    wq_event(P, 'retried', id, q, '')
    woken[q] = true
    code = 1
  end
  out[#out + 1] = {code, id, redis.call('HGETALL', jk)}
end
for q in pairs(woken) do
  redis.call('SADD', P .. 'queues', q)
  wq_publish(P .. 'wake:' .. q, P)
end
return out
