-- beat.lua: a node's heartbeat.
-- KEYS: nodes, node:<name>.  ARGV: prefix, name, timeout ms, instance,
-- then fields to update as field/value pairs.
-- Returns the server's time in ms (the node keeps the difference to its
-- own clock, see msg.c), or 0 when this process is no longer the member
-- of that name: it was reaped while it was frozen or cut off (whatever it
-- was running has been given to others, and its results will be fenced
-- off), or another process registered the name since (the instance
-- differs).  It must register again, which the second case refuses.
-- Atomic so that a reaped node cannot half-rejoin.
local P, name, timeout, inst = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
if not redis.call('ZSCORE', KEYS[1], name) then return 0 end
if redis.call('HGET', KEYS[2], 'instance') ~= inst then return 0 end
redis.call('ZADD', KEYS[1], NOW, name)
local fields = {'last_seen', NOW, 'timeout_ms', timeout}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[2], unpack(fields))
redis.call('PEXPIRE', KEYS[2], timeout + 60000)
return NOW
