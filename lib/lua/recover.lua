-- recover.lua: after a reconnect, give back what a node holds unknowingly.
-- KEYS: active:<node>.  ARGV: prefix, node, then the ids the node knows
-- it holds (running, or ended with the outcome not yet recorded).
-- A claim whose reply was lost on a broken link leaves ids in the node's
-- active list that the node never ran; the node is alive, so nobody would
-- reap them.  They are handed back (the attempt not counted).  Atomic so
-- that a job is never in two lists or in none.
-- Returns the number of jobs handed back.
local P, node = ARGV[1], ARGV[2]
local known = {}
for i = 3, #ARGV do known[ARGV[i]] = true end
local n = 0
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if not known[id] then
    redis.call('LREM', KEYS[1], 0, id)
    local jk = P .. 'job:' .. id
    local f = redis.call('HMGET', jk, 's', 'w', 'q')
    if f[1] == 'working' and f[2] == node then
      wq_handback(P, jk, id, f[3] or 'default')
      n = n + 1
    end
  end
end
return n
