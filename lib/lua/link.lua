-- link.lua: a child job waits for its parent: the parent's side of
-- --after (docs/DESIGN.md, Dependencies).
-- KEYS: job:<parent>, children:<parent>.
-- ARGV: prefix, child id.
-- A parent that has not ended gets the child in children:<parent> and
-- the flag k, which makes its end (complete.lua, wq_fail_final, cancel)
-- note it in deps for its children to be told.  One job's keys only:
-- the child's side is release.lua, called by whoever learns the end.
-- Idempotent: linking twice is linking once.
-- Returns the parent's status then ('unknown' when it has no record):
-- a final one is the caller's to give to the child (release.lua).
local P, child = ARGV[1], ARGV[2]
local s = redis.call('HGET', KEYS[1], 's')
if not s then return 'unknown' end
if s == 'worked' or s == 'failed' or s == 'cancelled' then return s end
redis.call('SADD', KEYS[2], child)
redis.call('HSET', KEYS[1], 'k', '1')
return s
