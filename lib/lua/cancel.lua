-- cancel.lua: cancel jobs (docs/DESIGN.md, Job control).
-- KEYS: the first job's record (which places the call on a cluster);
--       each job's keys (job:<id>, queue:<q> or delayed:<q>,
--       or active:<node> and inbox:<node> of the node that holds it, or
--       wait:<id>) are built from the prefix.
-- ARGV: prefix, the name of the node that cancels, then ids.
-- A pending job leaves queue:<q> (if it is near an end: wq_lrem_near;
-- else a claim drops it), urgent:<q> with a marker (of a priority:
-- wq_enqueue), its group:<q>:<g> with a marker (of a group) or
-- delayed:<q> (waiting for a retry or its time); a working
-- one leaves active:<node>, and that node is told by a
-- "cancel" message {"id","attempt"} in its inbox, on which it kills the
-- job's process group.  A waiting one (--after) drops wait:<id>; its
-- parents, not ended, still name it in children:<parent> (their keys,
-- not its own): when one ends, release.lua finds it no longer waiting
-- and leaves it.  Either way the record becomes cancelled, a final
-- status: it expires after its TTL, waiters are told (done:<id>), and
-- its own children are noted for the next sweep to cancel in turn, as
-- for any cancelled parent (wq_cancelled).  A result the node sends
-- later is refused by the fencing of complete.lua (the record is no
-- longer working), and the sweep leaves the job alone if the node dies
-- (wq_release looks for working records only).
-- In a namespace of several partitions (H ~= P) the node's keys are the
-- control partition's, which this script does not touch: the entry of a
-- working job names the node and the attempt, and the caller sends the
-- message (send.lua, control.c).
-- Atomic so that the status read and its change are one: a job is either
-- cancelled or claimed (or finished), never both.
-- Returns per id {code, id, the record after the call as field/value
-- pairs[, the node to tell, the attempt]}:
-- 1 cancelled, 0 left as it was (not pending, waiting nor working), -1
-- unknown.
local P, by = ARGV[1], ARGV[2]
local out = {}
for a = 3, #ARGV do
  local id = ARGV[a]
  local jk = P .. 'job:' .. id
  local f = redis.call('HMGET', jk, 's', 'q', 'y', 'w', 'a', 'l', 'c',
    'p', 'n')
  local code, tell = 0, nil
  if not f[1] then
    code = -1
  elseif f[1] == 'pending' or f[1] == 'working' or f[1] == 'waiting' then
    local q = f[2] or 'default'
    if f[1] == 'working' then
      local node = f[4]
      redis.call('LREM', P .. 'active:' .. node, 1, id)
      if H ~= P then
        tell = node
      elseif redis.call('HGET', P .. 'node:' .. node, 'alive') == '1' then
        local ik = P .. 'inbox:' .. node
        redis.call('RPUSH', ik, cjson.encode({id = 'cancel:' .. id ..
          ':' .. (f[5] or '0'), from = by, type = 'cancel',
          body = {id = id, attempt = tonumber(f[5] or '0')},
          reply = false, sent_at = NOW}))
        redis.call('LTRIM', ik, -WQ_INBOX_MAX, -1)
        redis.call('PEXPIRE', ik, WQ_INBOX_KEEP_MS)
        wq_publish(P .. 'msg:' .. node, '1')
      end
    elseif f[1] == 'waiting' then
      redis.call('DEL', P .. 'wait:' .. id)
    elseif f[9] and not f[3] and wq_group_drop(P, q, f[9], id) then
      -- of a group: gone with one of its queue's markers
    elseif f[8] and not f[3] and
        redis.call('ZREM', P .. 'urgent:' .. q, id) == 1 then
      -- of a priority: one of its queue's markers goes with it
      wq_lrem_near(P .. 'queue:' .. q, '^')
    elseif f[3] or not wq_lrem_near(P .. 'queue:' .. q, id) then
      redis.call('ZREM', P .. 'delayed:' .. q, id)
    end
    wq_cancelled(P, jk, id, by, f[6], f[7])
    code = 1
  end
  out[#out + 1] = {code, id, redis.call('HGETALL', jk), tell,
    tell and tonumber(f[5] or '0')}
end
return out
