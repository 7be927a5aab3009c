-- schedule.lua: add (or replace), remove, pause or resume a recurring job
-- (docs/DESIGN.md, Schedules).
-- KEYS: schedules, schedule:<name>, cron.
-- ARGV: prefix, op (add, rm, pause, resume), name, the next time it fires
-- (Unix s; add and resume), then for add the fields of schedule:<name> as
-- field/value pairs (spec, tz, job, catch_up).
-- Returns 1 done (add: a new schedule), 0 add: one was replaced; rm,
-- pause, resume: no such schedule.
-- Atomic so that the set of names, the hash and the zset of due times
-- that the sweep reads always agree: a schedule is in "cron" exactly
-- while it exists and is not paused.
local op, name = ARGV[2], ARGV[3]
local known = redis.call('SISMEMBER', KEYS[1], name) == 1
local function due(t)
  redis.call('ZADD', KEYS[3], string.format('%d', tonumber(t) * 1000), name)
end
if op == 'add' then
  redis.call('HSET', KEYS[2], 'next', ARGV[4], 'paused', '0',
    unpack(ARGV, 5))
  redis.call('SADD', KEYS[1], name)
  due(ARGV[4])
  if known then return 0 end
  return 1
end
if not known then return 0 end
if op == 'rm' then
  redis.call('DEL', KEYS[2])
  redis.call('SREM', KEYS[1], name)
  redis.call('ZREM', KEYS[3], name)
elseif op == 'pause' then
  redis.call('HSET', KEYS[2], 'paused', '1')
  redis.call('ZREM', KEYS[3], name)
elseif redis.call('HGET', KEYS[2], 'paused') == '1' then
  redis.call('HSET', KEYS[2], 'paused', '0', 'next', ARGV[4])
  due(ARGV[4])
end
return 1
