# poll.py PORT KEY N [TIMEOUT [cont PID...]] -- time a drain from a
# counter in Redis.
# The workers of every system add what they finished to KEY (wq keeps its
# own, stats:worked; the peers' workers flush a bench:done counter every
# 10 ms).  The drain is timed from the first count seen to the count
# reaching N, so the start-up of the workers (a Ruby or Node.js process
# takes a second or more to boot) is not part of it.  With "cont PID..."
# the workers were stopped (SIGSTOP) while the jobs were queued: poll.py
# continues them (SIGCONT) once it is ready, and times the drain from
# there, counting from zero.  Prints
# {"value":jobs/s,"unit":"jobs/s","jobs":N counted,"seconds":S}.
import json
import os
import signal
import sys
import time

import redis

port, key, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 300
r = redis.Redis(host="127.0.0.1", port=port)
deadline = time.monotonic() + timeout
first = None
r.ping()
if sys.argv[5:6] == ["cont"]:
    first = (time.monotonic(), 0)
    for pid in sys.argv[6:]:
        os.kill(int(pid), signal.SIGCONT)
while True:
    v = int(r.get(key) or 0)
    t = time.monotonic()
    if first is None and v > 0:
        first = (t, v)
    if v >= n:
        break
    if t > deadline:
        sys.exit("poll.py: %s reached %d of %d in %.0f s" % (key, v, n, timeout))
    time.sleep(0.005)
t0, v0 = first
secs = max(t - t0, 1e-3)
print(json.dumps({"value": round((n - v0) / secs), "unit": "jobs/s",
                  "jobs": n - v0, "seconds": round(secs, 3)}))
