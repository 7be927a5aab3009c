-- sweep.lua: the sweep in one partition of a namespace of several
-- (docs/DESIGN.md, section 25), after a beat that swept (heartbeat.lua,
-- which in a namespace of one partition does all of this itself): put
-- back the jobs of the nodes being reaped, promote the due jobs of the
-- queues "later" names, look at one queue at random, and say whether
-- deps has steps left by a process that died.
-- KEYS: later.  ARGV: prefix, how ('dead': the nodes being reaped, from
-- the control partition's zset reaping; 'left': a node leaving hands
-- back what it holds, leave.lua), then per node its name and its
-- generation.
-- Each node's end is idempotent (wq_owner_end): a sweeper that died
-- halfway is followed by another that does it again.  Marks of ended
-- generations older than WQ_GONE_KEEP_MS are dropped here.
-- Returns {jobs put back, jobs promoted, full (1: a limit was hit, sweep
-- again at once), deps (1: steps due), ms to the next thing due here
-- (-1: none within the hour)}.
local P = ARGV[1]
local jobs = 0
local back = ARGV[2] == 'left'
for i = 3, #ARGV - 1, 2 do
  jobs = jobs + wq_owner_end(P, ARGV[i], ARGV[i + 1], back)
end
local far = NOW + 3600000
local moved, full, due, deps = wq_sweep_part(P, far)
local ok, gk = P .. 'owners', P .. 'owners:gone'
local old = redis.call('ZRANGEBYSCORE', gk, '-inf', NOW - WQ_GONE_KEEP_MS,
  'LIMIT', 0, 100)
for _, node in ipairs(old) do
  if tonumber(redis.call('HGET', ok, node) or '0') < 0 then
    redis.call('HDEL', ok, node)
  end
  redis.call('ZREM', gk, node)
end
return {jobs, moved, full and 1 or 0, deps and 1 or 0,
  due < far and math.max(1, due - NOW) or -1}
