-- common.lua: prepended to every script at build time (lib/lua/embed.sh).
-- NOW is the server's clock in milliseconds, so that nodes on hosts whose
-- clocks disagree still agree on heartbeats, retries and expiry.
-- Scripts take the key prefix ("wq:") as ARGV[1]; the keys of jobs they
-- discover while running (ids popped from a list) are built from it.
local _t = redis.call('TIME')
local NOW = tonumber(_t[1]) * 1000 + math.floor(tonumber(_t[2]) / 1000)

-- A job fails for good: the record says so, it joins the bounded dead
-- list of its queue, expires after its TTL, and waiters are told.
local function wq_fail_final(P, jk, id, q, err, ttl)
  redis.call('HSET', jk, 'status', 'failed', 'error', err, 'finished_at', NOW)
  redis.call('HDEL', jk, 'retry_at')
  redis.call('LPUSH', P .. 'dead:' .. q, id)
  redis.call('LTRIM', P .. 'dead:' .. q, 0, 9999)
  redis.call('EXPIRE', jk, ttl)
  redis.call('INCR', P .. 'stats:failed')
  redis.call('PUBLISH', P .. 'done:' .. id, 'failed')
end

-- Put back the jobs a node holds in active:<node>.  A node that died
-- spent an attempt on each (so a job that kills its workers ends failed
-- after max_attempts); a node that leaves cleanly (handback) did not.
-- Only entries the node still holds under its own name are touched: a job
-- that was already taken away and claimed elsewhere is left alone.
local function wq_release(P, node, handback, dttl)
  local ak = P .. 'active:' .. node
  local n = 0
  while true do
    local id = redis.call('RPOP', ak)
    if not id then break end
    local jk = P .. 'job:' .. id
    local f = redis.call('HMGET', jk, 'status', 'worker', 'attempts',
      'max_attempts', 'queue', 'ttl')
    if f[1] == 'working' and f[2] == node then
      local q = f[5] or 'default'
      if handback then
        redis.call('HINCRBY', jk, 'attempts', -1)
        redis.call('HSET', jk, 'status', 'pending')
        redis.call('HDEL', jk, 'worker', 'started_at')
        redis.call('RPUSH', P .. 'queue:' .. q, id)
      elseif tonumber(f[3] or '0') >= tonumber(f[4] or '1') then
        wq_fail_final(P, jk, id, q, 'worker ' .. node .. ' was lost',
          tonumber(f[6]) or dttl)
      else
        redis.call('HSET', jk, 'status', 'pending', 'error',
          'worker ' .. node .. ' was lost')
        redis.call('RPUSH', P .. 'queue:' .. q, id)
      end
      redis.call('PUBLISH', P .. 'wake:' .. q, '1')
      n = n + 1
    end
  end
  if n > 0 and not handback then
    redis.call('INCRBY', P .. 'stats:reclaimed', n)
  end
  return n
end

-- A node is gone (dead or left): keep its hash a while for wq-peers --all.
local function wq_node_gone(P, name, why)
  local nk = P .. 'node:' .. name
  redis.call('ZREM', P .. 'nodes', name)
  redis.call('HSET', nk, 'alive', '0', 'gone_at', NOW, 'gone', why)
  redis.call('PEXPIRE', nk, 300000)
  redis.call('ZADD', P .. 'gone', NOW, name)
  redis.call('ZREMRANGEBYSCORE', P .. 'gone', '-inf', NOW - 300000)
  redis.call('DEL', P .. 'inbox:' .. name)
  redis.call('PUBLISH', P .. 'events', 'node ' .. why .. ' ' .. name)
end
