-- common.lua: prepended to every script at build time (lib/lua/embed.sh),
-- after the constants of lib/wq-const.h (WQ_TTL_DEFAULT...).
-- NOW is the server's clock in milliseconds, so that nodes on hosts whose
-- clocks disagree still agree on heartbeats, retries and expiry.
-- Scripts take the key prefix ("wq:") as ARGV[1]; the keys of jobs they
-- discover while running (ids popped from a list) are built from it.
local _t = redis.call('TIME')
local NOW = tonumber(_t[1]) * 1000 + math.floor(tonumber(_t[2]) / 1000)

-- The event stream (docs/DESIGN.md, Events): the prefix may end with the
-- stream's length ("wq:100000", wq_script_prefix()) when events are on,
-- and then with an "s" in a namespace of several partitions (the hints
-- are sharded: wq_publish); both are split here, so that ARGV[1] is the
-- prefix alone for the script.  WQ_EVENTS is that length as a string, or
-- nil: no event is written.
local WQ_EVENTS, WQ_SHARDED
do
  local p, n, s = string.match(ARGV[1] or '', '^(.*:)(%d*)(s?)$')
  if p then
    ARGV[1] = p
    if n ~= '' and n ~= '0' then WQ_EVENTS = n end
    WQ_SHARDED = s == 's'
  end
end

-- A hint (docs/DESIGN.md, Hints) on channel ch, under the prefix of the
-- script's own partition: with one partition a PUBLISH, as always; with
-- several an SPUBLISH, which a Redis Cluster delivers within the shard
-- of the channel's slot (the script's) instead of relaying it to every
-- node.
local function wq_publish(ch, msg)
  redis.call(WQ_SHARDED and 'SPUBLISH' or 'PUBLISH', ch, msg)
end

-- How many listen on each of the channels ...: NUMSUB, or SHARDNUMSUB
-- for sharded hints (exact on a cluster: a sharded channel's
-- subscribers are at the primary of its slot, this one).
local function wq_numsub(...)
  return redis.call('PUBSUB', WQ_SHARDED and 'SHARDNUMSUB' or 'NUMSUB', ...)
end

-- H: the prefix of membership, the control
-- partition's (docs/DESIGN.md, section 25): ARGV[1] less a partition's
-- ":N" ("wq:7:" -> "wq:", "{wq:7}:" -> "{wq}:"); with one partition, P.
local H = ARGV[1] or ''
do
  local a, b = string.match(H, '^(.*):%d+(}?:)$')
  if a then H = a .. b end
end

-- Write an event of job id, of queue q, at node ('' if none), kind t
-- (submitted, claimed, ...), with ... the fields of its kind (a attempt,
-- e error, g progress, y retry_at), to the stream P .. 'events', trimmed
-- to about WQ_EVENTS entries.  XADD in the script that makes the change,
-- so that an event is written exactly when its change is.  The stream's
-- id says when (the server's ms).
local function wq_event(P, t, id, q, node, ...)
  if WQ_EVENTS then
    redis.call('XADD', P .. 'events', 'MAXLEN', '~', WQ_EVENTS, '*',
      't', t, 'c', id, 'q', q, 'n', node, ...)
  end
end

-- The events of one kind of a call that handles many jobs (claim,
-- complete, submit): gathered per queue with wq_batch_add (id, and a its
-- attempt or nil), and written at the call's end by wq_batch_write, one
-- entry for each queue: its ids in 'c' and their attempts in 'a', each
-- list joined by spaces (ids and attempts have none), the rest as one
-- event's.  The readers give them back as one event each (events.c).
-- An entry is one XADD, not one per job: most of the events' cost.  B
-- holds the groups {q, ids, attempts, n} by queue and in order.
local function wq_batch_add(B, q, id, a)
  if not WQ_EVENTS then return end
  local g = B[q]
  if not g then
    g = {q, {}, {}, 0}
    B[q] = g
    B[#B + 1] = g
  end
  local n = g[4] + 1
  g[4] = n
  g[2][n] = id
  g[3][n] = a
end

-- One entry: kind t of ids[1..n] of queue q at node, with their attempts
-- as[1..n] if as is given (submit.lua calls it for its one queue).
local function wq_batch_entry(P, t, q, ids, n, node, as)
  if as and as[1] then
    redis.call('XADD', P .. 'events', 'MAXLEN', '~', WQ_EVENTS, '*',
      't', t, 'c', table.concat(ids, ' ', 1, n), 'q', q, 'n', node,
      'a', table.concat(as, ' ', 1, n))
  else
    redis.call('XADD', P .. 'events', 'MAXLEN', '~', WQ_EVENTS, '*',
      't', t, 'c', table.concat(ids, ' ', 1, n), 'q', q, 'n', node)
  end
end

local function wq_batch_write(P, B, t, node)
  for i = 1, #B do
    local g = B[i]
    wq_batch_entry(P, t, g[1], g[2], g[4], node, g[3])
  end
end

-- Records: job:<id> is a hash with one-letter field names (lib/record.c
-- turns it into the JSON record; a finished record is kept for its TTL,
-- and long names were most of its size):
--   s status    d data      q queue (absent: default)   b accepted_by
--   w worker    a attempts (absent: 0)                  m max_attempts
--   r result    e error     c created_at (ms)           y retry_at (ms)
--   t started_at, f finished_at (ms after c)            o timeout (s)
--   l ttl (s; absent: WQ_TTL_DEFAULT)
--   x traceparent (W3C trace context; absent: none)
--   u run_at (ms; a job submitted to run later)
--   p priority (absent: 0)
--   h after (JSON array of parent ids; status waiting until they worked)
--   g progress (JSON: what the running job last said, WQ_PROGRESS_FD)
--   k 1: the job has children (children:<id>) to tell of its end
--   n group (absent: none; docs/DESIGN.md, Limits)
-- The callback id is the key's suffix and is not stored.
local function wq_after(c)
  return string.format('%d', NOW - (tonumber(c) or NOW))
end

-- LPUSH t[1..n] on key, in slices: unpack() is bounded by Lua's C stack.
local function wq_lpush(key, t, n)
  for i = 1, n, 1000 do
    redis.call('LPUSH', key, unpack(t, i, math.min(i + 999, n)))
  end
end

-- Take id off the list key if it is among the WQ_LREM_NEAR entries at
-- either end (where jobs just queued, about to be claimed, or just
-- failed are), in time bounded by that, not by the list's length: LREM
-- scans from one end.  Farther in, it stays, and whoever pops it finds
-- its record changed and drops it (claim.lua: not pending).  Returns
-- whether it was taken off.
local function wq_lrem_near(key, id)
  if redis.call('LPOS', key, id, 'MAXLEN', WQ_LREM_NEAR) then
    return redis.call('LREM', key, 1, id) > 0
  elseif redis.call('LPOS', key, id, 'RANK', -1, 'MAXLEN', WQ_LREM_NEAR) then
    return redis.call('LREM', key, -1, id) > 0
  end
  return false
end

-- A job with children (k) ended: note it in deps, for its children to be
-- told (release.lua) by the caller, or by the sweep after a grace if the
-- caller died first.  late: ms to add to the grace (negative: sooner).
local function wq_deps_note(P, jk, id, late)
  if redis.call('HGET', jk, 'k') then
    redis.call('ZADD', P .. 'deps', string.format('%d', NOW + late),
      'p:' .. id)
    return true
  end
  return false
end

-- A job is cancelled (cancel.lua, queue.lua's purge): final, expiring
-- after its ttl l, its waiters told (on its channel and on ended: see
-- complete.lua), its children noted for the next sweep to tell
-- (wq_deps_note); c: its created_at; q: its queue (nil: read).
local function wq_cancelled(P, jk, id, by, l, c, q)
  redis.call('HSET', jk, 's', 'cancelled', 'e', 'cancelled by ' .. by,
    'f', wq_after(c))
  if WQ_EVENTS then
    wq_event(P, 'cancelled', id, q or redis.call('HGET', jk, 'q') or
      'default', by)
  end
  redis.call('HDEL', jk, 'y')
  redis.call('EXPIRE', jk, l or WQ_TTL_DEFAULT)
  wq_publish(P .. 'done:' .. id, 'cancelled')
  wq_publish(P .. 'ended', id)
  wq_deps_note(P, jk, id, -WQ_DEPS_GRACE_MS)
end

-- A job fails for good: the record says so, it joins the bounded dead
-- list of its queue, expires after its TTL, and waiters are told (on its
-- channel and on ended: see complete.lua).  node, a: where it ran, its
-- attempt, for its event.
local function wq_fail_final(P, jk, id, q, err, ttl, c, node, a)
  redis.call('HSET', jk, 's', 'failed', 'e', err, 'f', wq_after(c))
  wq_event(P, 'failed', id, q, node or '', 'a', a or '0', 'e', err)
  redis.call('HDEL', jk, 'y')
  redis.call('LPUSH', P .. 'dead:' .. q, id)
  redis.call('LTRIM', P .. 'dead:' .. q, 0, WQ_DEAD_MAX - 1)
  redis.call('EXPIRE', jk, ttl or WQ_TTL_DEFAULT)
  redis.call('INCR', P .. 'stats:failed')
  wq_publish(P .. 'done:' .. id, 'failed')
  wq_publish(P .. 'ended', id)
  return wq_deps_note(P, jk, id, 0)
end

-- Groups (docs/DESIGN.md, Limits).  A job of group g waits in the zset
-- group:<q>:<g>, scored as in urgent:<q> (priority, then order), with a
-- marker '@' in queue:<q> that a claim takes for a job of whichever
-- group's turn it is; groups:<q> holds the groups with jobs waiting,
-- scored by their turn (from the sequence useq:<q>: the lowest is next).
-- So LLEN queue:<q> still counts every pending job.  A job put back
-- (wq_putback) goes first in its group, and its group in turn.
local function wq_group_add(P, q, g, id, score, turn)
  redis.call('ZADD', P .. 'group:' .. q .. ':' .. g, score, id)
  redis.call('ZADD', P .. 'groups:' .. q, 'NX', turn, g)
end

-- A claimed job goes back to the head of its queue (the end claims take
-- from): its id, or for a job of a group a marker and the id first in
-- its group (g: its group, or nil).
local function wq_putback(P, q, id, g)
  if g then
    wq_group_add(P, q, g, id, '0', '0')
    id = '@'
  end
  redis.call('RPUSH', P .. 'queue:' .. q, id)
end

-- A claimed job goes back unfinished, its attempt not counted, to the
-- head of its queue, and its queue's sleepers are woken.
local function wq_handback(P, jk, id, q)
  redis.call('HINCRBY', jk, 'a', -1)
  redis.call('HSET', jk, 's', 'pending')
  redis.call('HDEL', jk, 'w', 't')
  wq_putback(P, q, id, redis.call('HGET', jk, 'n') or nil)
  wq_publish(P .. 'wake:' .. q, P)
end

-- Put back the jobs a node holds in active:<node>.  A node that died
-- spent an attempt on each (so a job that kills its workers ends failed
-- after max_attempts); a node that leaves cleanly (handback) did not.
-- Only entries the node still holds under its own name are touched: a job
-- that was already taken away and claimed elsewhere is left alone.
local function wq_release(P, node, handback)
  local ak = P .. 'active:' .. node
  local n = 0
  while true do
    local id = redis.call('RPOP', ak)
    if not id then break end
    local jk = P .. 'job:' .. id
    local f = redis.call('HMGET', jk, 's', 'w', 'a', 'm', 'q', 'l', 'c',
      'n')
    if f[1] == 'working' and f[2] == node then
      local q = f[5] or 'default'
      if handback then
        wq_handback(P, jk, id, q)
      else
        wq_event(P, 'reclaimed', id, q, node, 'a', f[3] or '0')
        if tonumber(f[3] or '0') >= tonumber(f[4] or '1') then
          wq_fail_final(P, jk, id, q, 'worker ' .. node .. ' was lost',
            f[6], f[7], node, f[3])
        else
          redis.call('HSET', jk, 's', 'pending', 'e',
            'worker ' .. node .. ' was lost')
          wq_putback(P, q, id, f[8] or nil)
        end
        wq_publish(P .. 'wake:' .. q, P)
      end
      n = n + 1
    end
  end
  if n > 0 and not handback then
    redis.call('INCRBY', P .. 'stats:reclaimed', n)
  end
  return n
end

-- A namespace of several partitions (docs/DESIGN.md, section 25): the
-- instance of a node that may hold jobs in this partition.  owners: node
-- -> the generation (register.lua's INCR of gen) of the instance that
-- claimed here last, negative once it was reaped or left.  A claim of
-- generation g (a string) takes over from an older instance, putting
-- back what that one left here if it was not reaped yet; it returns
-- false, changing nothing, for an instance older than the holder, or one
-- reaped or gone: a process whose name was taken since.
local function wq_take_over(P, node, g)
  local ok = P .. 'owners'
  local o, n = tonumber(redis.call('HGET', ok, node) or '0'), tonumber(g)
  if o == n then return true end
  if o == -n or math.abs(o) > n then return false end
  if o > 0 then wq_release(P, node, false) end
  redis.call('HSET', ok, node, g)
  return true
end

-- The end of generation g of node in this partition: it died (reaped:
-- its jobs put back as lost, an attempt spent) or left (handback: not
-- counted).  Nothing if a newer instance holds the name here (it put
-- back this one's jobs when it took over).  The mark -g stays for
-- WQ_GONE_KEEP_MS (owners:gone), so that a claim of the old process
-- (frozen, then thawed) is refused.  Idempotent: the sweep may do it
-- again.  Returns the number of jobs put back.
local function wq_owner_end(P, node, g, handback)
  local ok = P .. 'owners'
  local o, n = tonumber(redis.call('HGET', ok, node) or '0'), tonumber(g)
  if o == -n or math.abs(o) > n then return 0 end
  local jobs = 0
  if o > 0 then jobs = wq_release(P, node, handback) end
  redis.call('HSET', ok, node, string.format('%d', -n))
  redis.call('ZADD', P .. 'owners:gone', NOW, node)
  return jobs
end

-- A node is gone (dead or left): keep its hash a while for wq-peers --all,
-- with its last beat (the score it leaves in nodes: heartbeat.lua).
local function wq_node_gone(P, name, why)
  local nk = P .. 'node:' .. name
  local last = redis.call('ZSCORE', P .. 'nodes', name)
  redis.call('ZREM', P .. 'nodes', name)
  redis.call('HSET', nk, 'alive', '0', 'gone_at', NOW, 'gone', why,
    'last_seen', last or NOW)
  redis.call('PEXPIRE', nk, WQ_GONE_KEEP_MS)
  redis.call('ZADD', P .. 'gone', NOW, name)
  redis.call('ZREMRANGEBYSCORE', P .. 'gone', '-inf', NOW - WQ_GONE_KEEP_MS)
  redis.call('DEL', P .. 'inbox:' .. name)
  wq_publish(P .. 'events', 'node ' .. why .. ' ' .. name)
end

-- Queue ids whose priority is p (a number): at 0, on queue:<q>, which
-- claims take from the right; above, in urgent:<q> by priority and then
-- order of arrival, with as many markers '^' pushed where claims take
-- first: claim.lua takes the best of urgent:<q> for each marker.  So the
-- claim of a job of priority 0 costs what it did, and a queue's length
-- is still its pending jobs.  Ids of a group g (a string, or nil) go to
-- group:<q>:<g> by priority and order, with as many markers '@', pushed
-- where claims take last (priority 0) or first (wq_group_add).
local function wq_enqueue(P, q, ids, n, p, g)
  if p == 0 and not g then
    wq_lpush(P .. 'queue:' .. q, ids, n)
    return
  end
  local seq = redis.call('INCRBY', P .. 'useq:' .. q, n) - n
  local base = (WQ_PRIORITY_MAX + 1 - p) * WQ_PRIORITY_SPAN
  local marks, mark = {}, g and '@' or '^'
  for i = 1, n do
    local score = string.format('%d', base + seq + i)
    if g then
      wq_group_add(P, q, g, ids[i], score, string.format('%d', seq + i))
    else
      redis.call('ZADD', P .. 'urgent:' .. q, score, ids[i])
    end
    marks[i] = mark
  end
  if p == 0 then
    wq_lpush(P .. 'queue:' .. q, marks, n)
    return
  end
  for i = 1, n, 1000 do
    redis.call('RPUSH', P .. 'queue:' .. q, unpack(marks, i,
      math.min(i + 999, n)))
  end
end

-- A pending job of group g leaves it (cancel.lua), with a marker of its
-- queue (if one is near an end: else a claim finds it spent); the group
-- leaves groups:<q> when it has no job left.  Returns whether it was
-- there.
local function wq_group_drop(P, q, g, id)
  local gk = P .. 'group:' .. q .. ':' .. g
  if redis.call('ZREM', gk, id) == 0 then return false end
  wq_lrem_near(P .. 'queue:' .. q, '@')
  if redis.call('EXISTS', gk) == 0 then
    redis.call('ZREM', P .. 'groups:' .. q, g)
  end
  return true
end

-- The next job of the group whose turn it is (queue.lua's purge: no
-- limit), or nil; the group leaves groups:<q> when it has none left.
local function wq_group_pop(P, q)
  local rk = P .. 'groups:' .. q
  while true do
    local g = redis.call('ZRANGE', rk, 0, 0)[1]
    if not g then return nil end
    local gk = P .. 'group:' .. q .. ':' .. g
    local id = redis.call('ZPOPMIN', gk)[1]
    if redis.call('EXISTS', gk) == 0 then redis.call('ZREM', rk, g) end
    if id then return id end
  end
end

-- Move the due ids of delayed:<q> (retries, jobs to run later) to
-- queue:<q>, at most limit of them, and wake the queue's sleepers.
-- Returns how many moved, whether the limit was hit, and the time of the
-- next one due (nil: none).
local function wq_promote(P, q, limit)
  local dk = P .. 'delayed:' .. q
  local c = redis.call('ZRANGE', dk, 0, 0, 'WITHSCORES')
  local moved, full = 0, false
  if c[1] and tonumber(c[2]) <= NOW then
    local ids = redis.call('ZRANGEBYSCORE', dk, '-inf', NOW, 'LIMIT', 0,
      limit)
    for _, id in ipairs(ids) do
      redis.call('ZREM', dk, id)
      local jk = P .. 'job:' .. id
      local f = redis.call('HMGET', jk, 's', 'p', 'n')
      if f[1] == 'pending' then
        redis.call('HDEL', jk, 'y')
        wq_enqueue(P, q, {id}, 1, tonumber(f[2] or '0'), f[3] or nil)
        wq_event(P, 'promoted', id, q, '')
        moved = moved + 1
      end
    end
    wq_publish(P .. 'wake:' .. q, P)
    full = #ids == limit
    c = redis.call('ZRANGE', dk, 0, 0, 'WITHSCORES')
  end
  return moved, full, c[1] and tonumber(c[2])
end

-- A node found dead in a namespace of several partitions: its jobs are
-- put back by the sweep of each partition (sweep.lua), which reads the
-- zset reaping (control partition: "node generation" -> when) until
-- every partition has done it.
local function wq_reaping(P, node)
  local g = redis.call('HGET', P .. 'node:' .. node, 'gen')
  if g then redis.call('ZADD', P .. 'reaping', NOW, node .. ' ' .. g) end
end

-- The sweep's work on the jobs of one partition (heartbeat.lua, or
-- sweep.lua in a namespace of several): the due jobs of delayed:<q> of
-- the queues "later" says have some (the first 100 by time: those due,
-- then the next one due); one queue at random: its delayed:<q> if
-- "later" does not name it (data from before), and whether it is idle:
-- empty (nothing queued, delayed or urgent, not paused) and not
-- submitted to for WQ_QUEUE_IDLE_MS, it leaves "queues" with its dead
-- list; and whether deps has steps left by a process that died (deps.c:
-- the caller does them).  due: when the next sweep has something to do,
-- at the latest.  Returns the jobs promoted, whether a limit was hit,
-- due made sooner by what is due here, and whether deps has steps due.
local function wq_sweep_part(P, due)
  local moved, full, limit = 0, false, 1000
  local lk = P .. 'later'
  local c = redis.call('ZRANGE', lk, 0, 100, 'WITHSCORES')
  if #c == 202 and tonumber(c[202]) <= NOW then full = true end
  for i = 1, #c, 2 do
    if tonumber(c[i + 1]) > NOW then
      due = math.min(due, tonumber(c[i + 1]))
      break
    end
    local m, f, nextdue = wq_promote(P, c[i], limit)
    moved = moved + m
    if f then full = true end
    if nextdue then
      redis.call('ZADD', lk, nextdue, c[i])
      due = math.min(due, nextdue)
    else
      redis.call('ZREM', lk, c[i])
    end
  end
  local q = redis.call('SRANDMEMBER', P .. 'queues')
  if q then
    local m, f, nextdue = wq_promote(P, q, limit)
    moved = moved + m
    if f then full = true end
    if nextdue then
      redis.call('ZADD', lk, 'LT', nextdue, q)
      due = math.min(due, nextdue)
    end
    local uk = P .. 'queues:used'
    local used = tonumber(redis.call('ZSCORE', uk, q) or -1)
    if used == -1 then
      -- (a queue from before queues:used: counted from now)
      redis.call('ZADD', uk, NOW, q)
    elseif used < NOW - WQ_QUEUE_IDLE_MS and not nextdue and
        redis.call('LLEN', P .. 'queue:' .. q) == 0 and
        redis.call('ZCARD', P .. 'urgent:' .. q) == 0 and
        redis.call('SISMEMBER', P .. 'paused', q) == 0 then
      redis.call('SREM', P .. 'queues', q)
      redis.call('ZREM', uk, q)
      redis.call('DEL', P .. 'dead:' .. q, P .. 'useq:' .. q)
    end
  end
  local deps = false
  c = redis.call('ZRANGE', P .. 'deps', 0, 0, 'WITHSCORES')
  if c[1] and tonumber(c[2]) + WQ_DEPS_GRACE_MS <= NOW then
    deps = true
  elseif c[1] then
    due = math.min(due, tonumber(c[2]) + WQ_DEPS_GRACE_MS)
  end
  return moved, full, due, deps
end
