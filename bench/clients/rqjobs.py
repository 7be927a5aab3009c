# rqjobs.py -- the job functions RQ's workers run (bench/clients/rq.sh).
# They are imported in the worker only: the client names them by string.
# noop counts the job in memory; a thread adds the count to bench:done
# every 10 ms (bench/poll.c times the drain from it).  lat records the job's
# latency, from its submission to its run (CLOCK_MONOTONIC is one clock
# for every process of the machine), on the list bench:lat.
import os
import threading
import time

import redis

_r = redis.Redis(host="127.0.0.1", port=int(os.environ["BENCH_PORT"]))
_n = 0
_lock = threading.Lock()


def _flush():
    global _n
    while True:
        time.sleep(0.01)
        with _lock:
            n, _n = _n, 0
        if n:
            _r.incrby("bench:done", n)


threading.Thread(target=_flush, daemon=True).start()


def noop(x):
    global _n
    with _lock:
        _n += 1
    return x


def lat(sent):
    _r.rpush("bench:lat", (time.monotonic() - sent) * 1000)
