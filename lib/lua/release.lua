-- release.lua: tell a waiting job that one of its parents ended: the
-- child's side of --after (docs/DESIGN.md, Dependencies).
-- KEYS: job:<child>, wait:<child>.
-- ARGV: prefix, child id, parent id, the parent's end (worked, failed,
--       cancelled, unknown).
-- wait:<child> holds the parents not yet worked.  When the last one has
-- worked, the child becomes pending, on its queue (or in delayed:<q> if
-- its run_at is ahead), and its workers are woken.  When one failed, was
-- cancelled or is unknown, the child ends failed (or cancelled) with an
-- error that names the parent, and its own children are noted in deps.
-- Idempotent: a parent told twice (the worker and, after a crash, the
-- sweep) is told once, since only the first SREM finds it.
-- Returns 1 pending, 2 ended, 3 ended and has children to tell (noted
-- in deps), 0 nothing changed.
local P, child, parent, how = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local jk = KEYS[1]
local f = redis.call('HMGET', jk, 's', 'q', 'p', 'u', 'l', 'c', 'n')
if f[1] ~= 'waiting' then return 0 end
if redis.call('SREM', KEYS[2], parent) == 0 then return 0 end
local q = f[2] or 'default'
if how == 'worked' then
  if redis.call('SCARD', KEYS[2]) > 0 then return 0 end
  redis.call('HSET', jk, 's', 'pending')
  local due = tonumber(f[4] or '0')
  if due > NOW then
    redis.call('ZADD', P .. 'delayed:' .. q, f[4], child)
    redis.call('ZADD', P .. 'later', 'LT', f[4], q)
    wq_publish(P .. 'due:' .. q, f[4])
  else
    wq_enqueue(P, q, {child}, 1, tonumber(f[3] or '0'), f[7] or nil)
    wq_event(P, 'promoted', child, q, '')
    wq_publish(P .. 'wake:' .. q, P)
  end
  return 1
end
redis.call('DEL', KEYS[2])
if how == 'cancelled' then
  redis.call('HSET', jk, 's', 'cancelled', 'e', 'parent ' .. parent ..
    ' was cancelled', 'f', wq_after(f[6]))
  redis.call('EXPIRE', jk, f[5] or WQ_TTL_DEFAULT)
  wq_event(P, 'cancelled', child, q, '')
  wq_publish(P .. 'done:' .. child, 'cancelled')
  wq_publish(P .. 'ended', child)
  return wq_deps_note(P, jk, child, 0) and 3 or 2
end
return wq_fail_final(P, jk, child, q, 'parent ' .. parent ..
  (how == 'failed' and ' failed' or ' is unknown'), f[5], f[6]) and 3 or 2
