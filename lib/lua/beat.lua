-- beat.lua: a node's heartbeat.
-- KEYS: nodes, node:<name>.  ARGV: prefix, name, timeout ms, then fields
-- to update as field/value pairs.
-- Returns 0 when the node is no longer a member (it was reaped while it
-- was frozen or cut off): it must register again, and whatever it was
-- running has been given to others (its results will be fenced off).
-- Atomic so that a reaped node cannot half-rejoin.
local P, name, timeout = ARGV[1], ARGV[2], tonumber(ARGV[3])
if not redis.call('ZSCORE', KEYS[1], name) then return 0 end
redis.call('ZADD', KEYS[1], NOW, name)
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
if #fields > 0 then redis.call('HSET', KEYS[2], unpack(fields)) end
redis.call('HSET', KEYS[2], 'last_seen', NOW)
redis.call('PEXPIRE', KEYS[2], timeout + 60000)
return 1
