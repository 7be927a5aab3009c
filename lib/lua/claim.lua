-- claim.lua: take up to max jobs for a node, from its queues in order.
-- KEYS: active:<node>, then queue:<q> for each queue in priority order.
-- ARGV: prefix, node, max, default max_attempts.
-- Each id moves from the queue to the node's active list (the reliable
-- queue pattern: a job is always in exactly one list) and its record
-- becomes "working" under the node, with attempts incremented: the new
-- attempt number is the claim's fencing token.  Atomic so that two nodes
-- can never hold one job and a crash cannot leave a job in neither list.
-- Stale entries (no record, or a record not pending) are dropped.
-- Returns per job: id, data, token, timeout ('' if unset), max_attempts.
local P, node, max, dmax = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local out, n = {}, 0
for i = 2, #KEYS do
  while n < max do
    local id = redis.call('LMOVE', KEYS[i], KEYS[1], 'RIGHT', 'LEFT')
    if not id then break end
    local jk = P .. 'job:' .. id
    local f = redis.call('HMGET', jk, 'status', 'retry_at')
    if f[1] ~= 'pending' or f[2] then
      redis.call('LPOP', KEYS[1])
    else
      redis.call('HSETNX', jk, 'max_attempts', dmax)
      local tok = redis.call('HINCRBY', jk, 'attempts', 1)
      redis.call('HSET', jk, 'status', 'working', 'worker', node,
        'started_at', NOW)
      local d = redis.call('HMGET', jk, 'data', 'timeout', 'max_attempts')
      out[#out + 1] = id
      out[#out + 1] = d[1]
      out[#out + 1] = tok
      out[#out + 1] = d[2] or ''
      out[#out + 1] = d[3]
      n = n + 1
    end
  end
  if n >= max then break end
end
return out
