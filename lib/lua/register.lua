-- register.lua: a node joins the cluster.
-- KEYS: nodes, node:<name>.  ARGV: prefix, name, timeout ms, instance,
-- then the node's fields as field/value pairs.
-- Refuses a name that a live node holds.  If the name belongs to a node
-- that died and was not reaped yet, its jobs are put back and its inbox
-- dropped first (messages to the old process are not for the new one).
-- The instance is a random token of this process: heartbeat.lua checks
-- it (with alive, set here with the ZADD that makes the node a member),
-- so that a process that was cut off and whose name was taken meanwhile
-- does not go on beating as if it were the new holder.  Atomic so that
-- two nodes starting with one name cannot both win.
-- In a namespace of several partitions (docs/DESIGN.md, section 25) a
-- dead holder's jobs are put back by the sweep of each partition (it is
-- noted in reaping), and the reply is {server time, generation}.
local P, name, timeout, inst = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local parts = tonumber(redis.call('GET', P .. 'partitions') or '1')
local s = redis.call('ZSCORE', KEYS[1], name)
if s then
  local h = redis.call('HMGET', KEYS[2], 'timeout_ms', 'instance')
  local t = tonumber(h[1] or timeout)
  if tonumber(s) + t >= NOW and h[2] ~= inst then
    return redis.error_reply('NAMETAKEN a live node is named ' .. name)
  end
  if parts == 1 then
    wq_release(P, name, false)
  else
    wq_reaping(P, name)
  end
end
-- Several partitions: this instance's generation, which its claims
-- carry (wq_take_over), so that no partition takes an older one's.
local gen
if parts > 1 then gen = redis.call('INCR', P .. 'gen') end
redis.call('DEL', KEYS[2], P .. 'inbox:' .. name)
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[2], 'name', name, 'started_at', NOW, 'last_seen', NOW,
  'timeout_ms', timeout, 'alive', '1', 'instance', inst, unpack(fields))
if gen then redis.call('HSET', KEYS[2], 'gen', gen) end
redis.call('PEXPIRE', KEYS[2], timeout + WQ_NODE_KEEP_MS)
redis.call('ZADD', KEYS[1], NOW, name)
redis.call('ZREM', P .. 'gone', name)
wq_publish(P .. 'events', 'node joined ' .. name)
if gen then return {NOW, gen} end
return NOW
