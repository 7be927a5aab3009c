-- reap.lua: remove dead nodes and put their jobs back.
-- KEYS: nodes.  ARGV: prefix, default timeout ms, limit.
-- A node is dead when its last heartbeat is older than its own timeout
-- (stored in its hash; the default for nodes that did not store one).
-- Any node may run this; atomic so that a job is put back exactly once
-- and never while its node is still alive.
-- Returns {nodes reaped, jobs put back}.
local P, dtimeout, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local c = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', NOW - 1000,
  'WITHSCORES', 'LIMIT', 0, limit)
local nodes, jobs = 0, 0
for i = 1, #c, 2 do
  local name, last = c[i], tonumber(c[i + 1])
  local t = tonumber(redis.call('HGET', P .. 'node:' .. name, 'timeout_ms')
    or dtimeout)
  if last + t < NOW then
    jobs = jobs + wq_release(P, name, false)
    wq_node_gone(P, name, 'dead')
    nodes = nodes + 1
  end
end
return {nodes, jobs}
