-- send.lua: put a message in a live node's inbox.
-- KEYS: nodes, inbox:<to>.  ARGV: prefix, to, message JSON.
-- Atomic so that a message is never left in the inbox of a node that is
-- not a member (inboxes of dead nodes are deleted when they are reaped,
-- and would otherwise fill up).  Returns 0 when the node is not alive.
local P, to = ARGV[1], ARGV[2]
if not redis.call('ZSCORE', KEYS[1], to) then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('LTRIM', KEYS[2], -1000, -1)
redis.call('PEXPIRE', KEYS[2], 300000)
redis.call('PUBLISH', P .. 'msg:' .. to, '1')
return 1
