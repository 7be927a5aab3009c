-- progress.lua: record what running jobs said of their progress
-- (WQ_PROGRESS_FD, wq-worker(1)).
-- KEYS: the first job's key (which places the call on a cluster); each
-- job's key, job:<id>, is built from the prefix.
-- ARGV: prefix, node, then per job: id, token, progress (JSON).
-- Fenced like a result (docs/DESIGN.md, Fencing): written only while the
-- record is working, under this node, with this token, so a late word
-- of a claim taken away changes nothing.  Atomic so that the check and
-- the write are one.  What was written is published on the channel
-- progress, a line "<id> <progress>" a job, for wq-status --wait
-- --progress (one message a call, whoever listens).
-- Returns how many were written.
local P, node = ARGV[1], ARGV[2]
local said = {}
for a = 3, #ARGV, 3 do
  local jk = P .. 'job:' .. ARGV[a]
  local f = redis.call('HMGET', jk, 's', 'w', 'a', 'q')
  if f[1] == 'working' and f[2] == node and f[3] == ARGV[a + 1] then
    redis.call('HSET', jk, 'g', ARGV[a + 2])
    wq_event(P, 'progress', ARGV[a], f[4] or 'default', node, 'a', f[3],
      'g', ARGV[a + 2])
    said[#said + 1] = ARGV[a] .. ' ' .. ARGV[a + 2]
  end
end
if #said > 0 then
  wq_publish(P .. 'progress', table.concat(said, '\n'))
end
return #said
