-- send.lua: put a message in a live node's inbox.
-- KEYS: nodes, inbox:<to>, node:<to>.  ARGV: prefix, to, message JSON
-- (an object, built by msg.c).
-- A node is live while its last beat is within its own timeout: one that
-- died and was not reaped yet gets nothing, so the sender fails at once
-- instead of waiting out its timeout.  Atomic so that a message is never
-- left in the inbox of a node that is not a member (inboxes of dead nodes
-- are deleted when they are reaped, and would otherwise fill up); the
-- inbox is also bounded and expires when nobody reads it.  The message is
-- stamped with the server's time, by which the node drops messages whose
-- sender has stopped waiting (msg.c).
-- Returns 1 sent, 0 no such node, -1 the node is dead or left.
local P, to = ARGV[1], ARGV[2]
local s = redis.call('ZSCORE', KEYS[1], to)
if not s then
  if redis.call('ZSCORE', P .. 'gone', to) then return -1 end
  return 0
end
local t = tonumber(redis.call('HGET', KEYS[3], 'timeout_ms') or
  WQ_NODE_TIMEOUT_MS)
if tonumber(s) + t < NOW then return -1 end
local m = string.sub(ARGV[3], 1, -2) .. string.format(',"sent_at":%.0f}', NOW)
redis.call('RPUSH', KEYS[2], m)
redis.call('LTRIM', KEYS[2], -WQ_INBOX_MAX, -1)
redis.call('PEXPIRE', KEYS[2], WQ_INBOX_KEEP_MS)
wq_publish(P .. 'msg:' .. to, '1')
return 1
