-- fire.lua: claim the firing of a due schedule (docs/DESIGN.md,
-- Schedules): move its next time on, so that no other sweeper fires the
-- same times.  The caller submits the jobs after, and only if it won.
-- KEYS: schedule:<name>, cron.
-- ARGV: prefix, name, the next time as the caller read it (Unix s), the
-- next time after those it fires, the last time it fires.
-- Returns 1 fire them, 0 not: another sweeper did, or the schedule was
-- paused, replaced or removed since it was read.
-- Atomic so that of two sweepers that read the same due time (one froze
-- past the sweep's gate) only one fires it: with the ids of its jobs
-- (name and time), a time fires at most once.
local h = redis.call('HMGET', KEYS[1], 'next', 'paused')
if h[1] ~= ARGV[3] or h[2] ~= '0' then return 0 end
redis.call('HSET', KEYS[1], 'next', ARGV[4], 'last', ARGV[5])
redis.call('ZADD', KEYS[2], string.format('%d', tonumber(ARGV[4]) * 1000),
  ARGV[2])
return 1
