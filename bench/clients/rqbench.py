# rqbench.py -- RQ's side of bench/run (Debian's python3-rq; RQ's
# defaults: results kept for 500 s).
#   python3 rqbench.py PORT submit N one|bulk   time enqueueing N jobs
#                                               (bulk: enqueue_many, 1000
#                                               per pipeline)
#   python3 rqbench.py PORT prequeue N          enqueue N jobs, untimed
#   python3 rqbench.py PORT work                a SimpleWorker (runs jobs
#                                               in its own process, no
#                                               fork per job) until killed
#   python3 rqbench.py PORT latency RATE S      paced enqueues; the time
#                                               from enqueue to the job's
#                                               run (seen by the job)
import json
import logging
import os
import sys
import time

import redis
from rq import Queue, SimpleWorker

port, mode = int(sys.argv[1]), sys.argv[2]
os.environ["BENCH_PORT"] = str(port)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
r = redis.Redis(host="127.0.0.1", port=port)
q = Queue("bench", connection=r)


def enqueue(n, bulk):
    if not bulk:
        for i in range(n):
            q.enqueue("rqjobs.noop", i)
        return
    for i in range(0, n, 1000):
        with r.pipeline() as p:
            q.enqueue_many([Queue.prepare_data("rqjobs.noop", (j,))
                            for j in range(i, min(n, i + 1000))], pipeline=p)
            p.execute()


if mode in ("submit", "prequeue"):
    n = int(sys.argv[3])
    t0 = time.monotonic()
    enqueue(n, mode == "prequeue" or sys.argv[4] == "bulk")
    if mode == "submit":
        print(json.dumps({"value": round(n / (time.monotonic() - t0)),
                          "unit": "jobs/s", "jobs": n}))
elif mode == "work":
    logging.getLogger("rq.worker").setLevel(logging.WARNING)
    SimpleWorker([q], connection=r).work(logging_level="WARNING")
elif mode == "latency":
    rate, secs = int(sys.argv[3]), int(sys.argv[4])
    n = rate * secs
    t0 = time.monotonic()
    for i in range(n):
        d = t0 + i / rate - time.monotonic()
        if d > 0:
            time.sleep(d)
        q.enqueue("rqjobs.lat", time.monotonic())
    deadline = time.monotonic() + 30
    while r.llen("bench:lat") < n and time.monotonic() < deadline:
        time.sleep(0.05)
    lat = sorted(float(x) for x in r.lrange("bench:lat", 0, -1))
    if len(lat) < n:
        sys.exit("rqbench.py: %d jobs not run" % (n - len(lat)))
    print(json.dumps({"p50": round(lat[n // 2], 3),
                      "p99": round(lat[n * 99 // 100], 3),
                      "max": round(lat[-1], 3), "unit": "ms", "jobs": n}))
