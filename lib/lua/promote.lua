-- promote.lua: move retries whose time has come back to their queues.
-- KEYS: delayed:<q>, queue:<q> in pairs.  ARGV: prefix, limit, then the
-- queue names (for the wake-up hint).
-- Atomic so that an id leaves delayed:<q> and enters queue:<q> together:
-- any node may run this, and two running it at once move each id once.
-- Returns the number of jobs moved.
local P, limit = ARGV[1], tonumber(ARGV[2])
local moved = 0
for i = 1, #KEYS, 2 do
  local ids = redis.call('ZRANGEBYSCORE', KEYS[i], '-inf', NOW, 'LIMIT', 0,
    limit)
  for _, id in ipairs(ids) do
    redis.call('ZREM', KEYS[i], id)
    local jk = P .. 'job:' .. id
    if redis.call('HGET', jk, 's') == 'pending' then
      redis.call('HDEL', jk, 'y')
      redis.call('LPUSH', KEYS[i + 1], id)
      moved = moved + 1
    end
  end
  if #ids > 0 then
    redis.call('PUBLISH', P .. 'wake:' .. ARGV[2 + (i + 1) / 2], '1')
  end
end
return moved
