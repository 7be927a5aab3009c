-- heartbeat.lua: a node's heartbeat and everything an idle node does each
-- second, in one call: beat, sweep the cluster (when no node did lately),
-- take its messages, and say whether its queues hold work.
-- KEYS: nodes, node:<name>, inbox:<name>, sweep, cron, then queue:<q> for
--       each queue the node would claim from now (none when it is busy).
-- ARGV: prefix, name, instance, ttl ms of node:<name> ('' to leave it),
--       messages to take (0: none), sweep gate ms, default node timeout
--       ms, the namespace's partitions, then fields of node:<name> to set
--       as field/value pairs.
-- Returns {0} when this process is no longer the member of that name (it
-- was reaped while frozen or cut off: whatever it ran was given to others
-- and its results will be fenced off; or another process registered the
-- name since): it must register again, which the second case refuses.
-- Else {server time ms, work (1: a queue in KEYS holds ids), nodes
-- reaped, jobs they held put back, retries promoted, cron (bit 1: this
-- beat swept and a schedule is due: the caller fires it, schedule.c; bit
-- 2: deps has steps left by a process that died, deps.c; bit 3: this
-- beat swept a namespace of several partitions, whose partitions the
-- caller sweeps, sweep.lua), messages...}.
--
-- Membership: a node is a member while its hash says alive = 1 under its
-- instance.  register.lua sets both with the ZADD that makes it a member,
-- and wq_node_gone (common.lua) clears alive with the ZREM, each in one
-- script, so this one HMGET answers what ZSCORE and HGET did; a hash that
-- expired answers no.  The beat itself is the ZADD: the last beat is the
-- score, which readers show as last_seen.  The node sends its fields only
-- when they changed, and the hash's TTL now and then (node.c says when),
-- not every second.
--
-- The sweep: reaping dead nodes and promoting due retries is work for
-- the cluster, not for each node.  The node that beats first once the
-- gate (the string "sweep", SET NX) has expired does it for every node
-- and every queue with jobs due in delayed:<q> (the zset "later": queue
-- -> its earliest, kept by submit.lua and complete.lua with ZADD LT, so
-- that the sweep's cost follows the queues with something due, not the
-- number of queues); the others skip it.  A sweep also looks at one
-- queue of "queues" at random: a delayed:<q> that "later" does not name
-- (from before it existed) is so found, and a queue empty and unused
-- for WQ_QUEUE_IDLE_MS leaves "queues", with its dead list.  The gate lasts a quarter of the sweeper's heartbeat, at most
-- 250 ms, or less: until the next thing due that the sweep saw, the
-- deadline of the oldest member (the next to die if it stopped beating)
-- or the next retry of a queue.  So the cluster sweeps a few times a
-- second whatever its size, where every node used to sweep at every beat,
-- and yet what is due is done by the first beat of any node after it is
-- due, as before: a dead node is reaped (its jobs put back) within its
-- timeout and the time to the next beat, a retry promoted at the first
-- beat after its time.  Only what the sweep could not see waits up to the
-- gate longer: a retry scheduled since, due before the gate expires; a
-- node dead before the oldest member's deadline (its timeout is shorter).
-- The gate is shorter than any heartbeat, so the node that swept last
-- finds it open again at its next beat: a sweep follows any moment within
-- a heartbeat (and a gate, if that node died).  A sweep that hit a limit
-- (more dead nodes or due retries than one call takes) opens the gate at
-- once, so that a backlog is cleared by consecutive beats as before.
--
-- Atomic so that a reaped node cannot half-rejoin, that a job is put back
-- exactly once and never while its node is alive, and that an id leaves
-- delayed:<q> and enters queue:<q> together.
local P, name, inst = ARGV[1], ARGV[2], ARGV[3]
local h = redis.call('HMGET', KEYS[2], 'instance', 'alive')
if h[1] ~= inst or h[2] ~= '1' then return {0} end
redis.call('ZADD', KEYS[1], NOW, name)
if #ARGV > 8 then redis.call('HSET', KEYS[2], unpack(ARGV, 9)) end
if ARGV[4] ~= '' then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end

local nodes, jobs, moved, cron = 0, 0, 0, 0
local gate = tonumber(ARGV[6])
if redis.call('SET', KEYS[4], name, 'NX', 'PX', gate) then
  -- due: when the next sweep has something to do, at the latest
  local due, full = NOW + gate, false
  local parts = tonumber(ARGV[8])
  -- Dead nodes: a node is dead when its last beat is older than its own
  -- timeout (stored in its hash; the default for one that has none).
  -- No timeout is under WQ_NODE_TIMEOUT_MIN_MS, so younger beats are not
  -- looked at.
  -- The oldest member left is the next to die if it stops beating.
  -- One read: the oldest members, those past WQ_NODE_TIMEOUT_MIN_MS
  -- first, then the first younger one.
  local dtimeout, limit, oldest, nold = tonumber(ARGV[7]), 100, nil, 0
  local c = redis.call('ZRANGE', KEYS[1], 0, limit - 1, 'WITHSCORES')
  for i = 1, #c, 2 do
    local node, last = c[i], tonumber(c[i + 1])
    if last > NOW - WQ_NODE_TIMEOUT_MIN_MS then
      -- (its timeout matters only if it may end before the gate)
      if not oldest and last + WQ_NODE_TIMEOUT_MIN_MS < due then
        oldest = last + 1 + tonumber(redis.call('HGET',
          P .. 'node:' .. node, 'timeout_ms') or dtimeout)
      end
      break
    end
    nold = nold + 1
    local t = tonumber(redis.call('HGET', P .. 'node:' .. node,
      'timeout_ms') or dtimeout)
    if last + t < NOW then
      if parts == 1 then
        jobs = jobs + wq_release(P, node, false)
      else
        wq_reaping(P, node)
      end
      wq_node_gone(P, node, 'dead')
      nodes = nodes + 1
    elseif not oldest then
      oldest = last + t + 1
    end
  end
  if nold == limit then full = true end
  if oldest then due = math.min(due, oldest) end
  -- The queues' due jobs, one queue at random, dependencies: in a
  -- namespace of several partitions the caller sweeps each partition
  -- (sweep.lua; cron bit 3), with the nodes this beat found dead.
  if parts == 1 then
    local m, f, d, dp = wq_sweep_part(P, due)
    moved, due = m, d
    if f then full = true end
    if dp then cron = cron + 2 end
  else
    cron = cron + 4
  end
  -- Schedules: firing one needs its time zone, so the caller does it
  -- (schedule.c); the next one due shortens the gate like a retry.
  c = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
  if c[1] and tonumber(c[2]) <= NOW then
    cron = cron + 1
  elseif c[1] then
    due = math.min(due, tonumber(c[2]))
  end
  if full then
    redis.call('DEL', KEYS[4])
  elseif due < NOW + gate then
    redis.call('PEXPIRE', KEYS[4], string.format('%d',
      math.max(1, due - NOW)))
  end
end

-- After the sweep, so that what it put back counts as work.  pcall: a
-- queue's key of another type (bad data) must not stop the beat; the
-- claim reports it.  A paused queue (wq-queue pause) holds no work for
-- a claim: an idle worker would claim from it in vain at every beat.
-- (Looked at only for a queue that holds ids: an idle beat costs no more.)
local work = 0
for i = 6, #KEYS do
  if (tonumber(redis.pcall('LLEN', KEYS[i])) or 0) > 0 and
      redis.call('SISMEMBER', P .. 'paused',
        string.sub(KEYS[i], #P + 7)) == 0 then
    work = 1
    break
  end
end
local out = {NOW, work, nodes, jobs, moved, cron}
if ARGV[5] ~= '0' then
  local m = redis.call('LPOP', KEYS[3], ARGV[5])
  if m then
    for i = 1, #m do out[6 + i] = m[i] end
  end
end
return out
