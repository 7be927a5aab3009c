-- promote.lua: move the due jobs of a worker's queues from delayed:<q> to
-- queue:<q> (jobs submitted to run later, retries), and say when the
-- next one is due.
-- KEYS: delayed:<q> then queue:<q>, for each queue.
-- ARGV: prefix, then each queue's name.
-- A worker calls it when it is told (due:<q>) that a job waits for a
-- time, and at that time, so that the job is queued on time without
-- anyone polling; the sweep (heartbeat.lua) does the same, for every
-- queue, at its pace, for a worker that missed the hint.
-- Atomic so that an id leaves delayed:<q> and enters queue:<q> together.
-- Returns {moved, ms until the next one is due (-1: none)}.
local P = ARGV[1]
local moved, nextdue = 0, nil
for i = 2, #ARGV do
  local m, _, d = wq_promote(P, ARGV[i], 1000)
  moved = moved + m
  if d and (not nextdue or d < nextdue) then nextdue = d end
end
return {moved, nextdue and math.max(1, nextdue - NOW) or -1}
