-- leave.lua: a node leaves the cluster cleanly.
-- KEYS: nodes.  ARGV: prefix, name.
-- Whatever it still holds is handed back (not counted as an attempt);
-- then it is no longer a member.  Atomic so that no job is left in an
-- active list nobody will reap.
local P, name = ARGV[1], ARGV[2]
local n = wq_release(P, name, true, 3600)
wq_node_gone(P, name, 'left')
return n
