-- leave.lua: a node leaves the cluster cleanly.
-- KEYS: nodes, node:<name>.  ARGV: prefix, name, instance.
-- Whatever it still holds is handed back (not counted as an attempt);
-- then it is no longer a member.  Only the process that holds the name
-- may do this: one that was declared dead meanwhile (and whose name
-- another process may hold now) leaves nothing: its jobs were dealt with
-- when it was reaped.  Atomic so that no job is left in an active list
-- nobody will reap.  Returns the number of jobs handed back, or -1 when
-- the name was not this process's.
local P, name, inst = ARGV[1], ARGV[2], ARGV[3]
if not redis.call('ZSCORE', KEYS[1], name) or
    redis.call('HGET', KEYS[2], 'instance') ~= inst then
  return -1
end
-- (several partitions: the caller handed back each one's first)
local n = 0
if not redis.call('HGET', KEYS[2], 'gen') then n = wq_release(P, name, true) end
wq_node_gone(P, name, 'left')
return n
