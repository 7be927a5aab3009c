-- claim.lua: take up to max jobs for a node, from its queues in order,
-- within each queue's limits (docs/DESIGN.md, Limits).
-- KEYS: active:<node>, then queue:<q> for each queue in the order the
--       worker takes them, then urgent:<q> for each, then limit:<q>,
--       running:<q> and started:<q> for each likewise.
-- A marker '^' in queue:<q> stands for a job of urgent:<q>: its best
-- (highest priority, then oldest) is taken for it (common.lua,
-- wq_enqueue).
-- ARGV: prefix, node, max, default max_attempts, and in a namespace of
-- several partitions the node's generation (register.lua).
-- The ids leave the queue and enter the node's active list in one step
-- (the reliable queue pattern: a job is always in exactly one list), and
-- each record becomes "working" under the node with attempts incremented:
-- the new attempt number is the claim's fencing token.  Atomic so that
-- two nodes can never hold one job and a crash cannot leave a job in
-- neither list.  Stale entries (no record, not pending, or waiting for a
-- retry) are dropped, as are ids whose record is of another type, and a
-- queue's key of another type is passed over (bad data: pcall, whose
-- error table has no elements), so that neither stops the other queues
-- nor loses an id popped before it.  Queues in the set "paused"
-- (wq-queue pause) are passed over.
-- A queue without limits costs one HMGET of limit:<q> more.  With a
-- concurrency limit N, running:<q> holds the ids claimed under it; when
-- its count is in the way, the ids no longer working are dropped from
-- it first.  With a rate of N per period, started:<q> holds the time of
-- each claim: at most N in any period (a sliding window).
-- Groups: a marker '@' in queue:<q> stands for a job of some group
-- (common.lua, wq_enqueue): it is taken from the group whose turn it is
-- among those under the queue's group_concurrency K (grunning:<q>:<g>,
-- kept like running:<q>), which then goes last.  A marker no group can
-- take now goes back, and the claim looks up to GROUP_LOOKAHEAD entries
-- further for jobs it can take.
-- Returns per job: id, data, token, timeout ('' if unset), max_attempts,
-- traceparent ('' if none).
local P, node, max, dmax = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
-- Several partitions: the node's generation (wq_take_over).
if ARGV[5] and not wq_take_over(P, node, ARGV[5]) then
  return redis.error_reply('NAMETAKEN node ' .. node .. ' has a newer instance')
end
-- Numbers given to redis.call are formatted with "%.17g", which costs
-- more than the HSET they go to: the times and tokens are passed as
-- strings.
-- The tables are filled by counters: #t is a search of the table each
-- time, and this runs for every job.
local out, taken, nout, ntaken = {}, {}, 0, 0
local evs = {}  -- the events, one entry a queue (common.lua, wq_batch_add)
-- How many of cap the set runk leaves for want more: when its count is
-- in the way, the ids no longer working leave it first.
local function free(runk, cap, want)
  local n = redis.call('SCARD', runk)
  if n + want > cap then
    for _, id in ipairs(redis.call('SMEMBERS', runk)) do
      if redis.pcall('HGET', P .. 'job:' .. id, 's') ~= 'working' then
        redis.call('SREM', runk, id)
        n = n - 1
      end
    end
  end
  return cap - n
end

-- How many more the limits of a queue let start now (lim: its HMGET).
local function room(lim, runk, stk, want)
  if lim[1] then
    want = math.min(want, free(runk, tonumber(lim[1]), want))
  end
  if lim[2] and want > 0 then
    redis.call('ZREMRANGEBYSCORE', stk, '-inf',
      string.format('%d', NOW - tonumber(lim[3])))
    want = math.min(want, tonumber(lim[2]) - redis.call('ZCARD', stk))
  end
  return want
end

-- Groups: the job of queue q's group whose turn it is, under cap (K, or
-- nil), and the group; or nil and why: 'none' (no group has a job: the
-- marker was left over) or 'full' (every group is at K, or the
-- GROUP_SCAN looked at are).  A group at K goes last too.
local GROUP_SCAN, GROUP_LOOKAHEAD = 100, 100
local function group_take(q, cap)
  local rk, seen = P .. 'groups:' .. q, {}
  for _ = 1, GROUP_SCAN do
    local g = redis.call('ZRANGE', rk, 0, 0)[1]
    if not g then return nil, 'none' end
    if seen[g] then return nil, 'full' end
    seen[g] = true
    local gk = P .. 'group:' .. q .. ':' .. g
    local id
    if not cap or free(P .. 'grunning:' .. q .. ':' .. g, cap, 1) > 0 then
      id = redis.call('ZPOPMIN', gk)[1]
    end
    if redis.call('EXISTS', gk) == 0 then
      redis.call('ZREM', rk, g)
    else
      redis.call('ZADD', rk, 'XX', redis.call('INCR', P .. 'useq:' .. q), g)
    end
    if id then return id, g end
  end
  return nil, 'full'
end

local nq = (#KEYS - 1) / 5
-- Paused queues (wq-queue pause) are passed over, whoever claims: a call
-- more only while some queue is paused.
local paused = redis.call('SCARD', P .. 'paused') > 0
for i = 2, nq + 1 do
  local want = max - ntaken
  if want <= 0 then break end
  local lim = redis.call('HMGET', KEYS[i + 2 * nq], 'concurrency', 'rate',
    'period', 'group_concurrency')
  if paused and redis.call('SISMEMBER', P .. 'paused',
      string.sub(KEYS[i], #P + 7)) == 1 then
    want = 0
  elseif lim[1] or lim[2] then
    want = room(lim, KEYS[i + 3 * nq], KEYS[i + 4 * nq], want)
  end
  local ids
  if want > 0 then ids = redis.pcall('RPOP', KEYS[i], want) end
  -- (the queue's name, for the events: the key less 'P..queue:')
  local qname = WQ_EVENTS and string.sub(KEYS[i], #P + 7)
  -- groups: markers put back, how far to look further, why none could
  -- be taken (then the next are not tried), K
  local back, spare, gwhy, gcap = 0, GROUP_LOOKAHEAD, nil,
    tonumber(lim[4])
  local q, base = string.sub(KEYS[i], #P + 7), ntaken
  while ids do
    local unmet = 0
    for j = 1, #ids do
      local id, g = ids[j], nil
      if id == '^' then
        id = redis.call('ZPOPMIN', KEYS[i + nq])[1] or '^'
      elseif id == '@' then
        id = nil
        if not gwhy then id, g = group_take(q, gcap) end
        if not id then
          gwhy = gwhy or g
          if gwhy == 'full' then unmet = unmet + 1 end
          id, g = '@', nil
        end
      end
      local jk = P .. 'job:' .. id
      local f = redis.pcall('HMGET', jk, 's', 'y', 'a', 'd', 'o', 'm', 'c',
        'x')
      if f[1] == 'pending' and not f[2] then
        local tok = (tonumber(f[3]) or 0) + 1
        local toks = string.format('%d', tok)
        local maxa = f[6]
        if maxa then
          redis.call('HSET', jk, 's', 'working', 'w', node,
            't', wq_after(f[7]), 'a', toks)
        else
          maxa = dmax
          redis.call('HSET', jk, 's', 'working', 'w', node,
            't', wq_after(f[7]), 'a', toks, 'm', dmax)
        end
        ntaken = ntaken + 1
        taken[ntaken] = id
        wq_batch_add(evs, qname, id, toks)
        if lim[1] then redis.call('SADD', KEYS[i + 3 * nq], id) end
        if g and gcap then
          redis.call('SADD', P .. 'grunning:' .. q .. ':' .. g, id)
        end
        if lim[2] then
          redis.call('ZADD', KEYS[i + 4 * nq], string.format('%d', NOW),
            id .. ':' .. toks)
          redis.call('PEXPIRE', KEYS[i + 4 * nq], lim[3])
        end
        out[nout + 1], out[nout + 2], out[nout + 3] = id, f[4], tok
        out[nout + 4], out[nout + 5] = f[5] or '', maxa
        out[nout + 6] = f[8] or ''
        nout = nout + 6
      end
    end
    -- markers that no group could take: look further for other jobs
    back = back + unmet
    local left = want - (ntaken - base)
    ids = nil
    if unmet > 0 and left > 0 and spare > 0 then
      ids = redis.pcall('RPOP', KEYS[i], math.min(left, spare))
      spare = spare - math.min(left, spare)
    end
  end
  if back > 0 then
    local marks = {}
    for k = 1, back do marks[k] = '@' end
    for k = 1, back, 1000 do
      redis.call('RPUSH', KEYS[i], unpack(marks, k, math.min(k + 999, back)))
    end
  end
end
wq_lpush(KEYS[1], taken, ntaken)
wq_batch_write(P, evs, 'claimed', node)
return out
