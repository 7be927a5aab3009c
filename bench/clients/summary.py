# summary.py RUN.ndjson -- the rows of one bench/run as a Markdown table:
# one line per figure, one column per system (the batched variants of the
# naive loop and of beanstalkd are columns of their own).
import json
import re
import sys

COLS = ["wq", "bullmq", "beequeue", "sidekiq", "rq", "beanstalkd",
        "beanstalkd x100", "naive", "naive x100"]
NAMES = {"beequeue": "bee-queue", "bullmq": "BullMQ", "sidekiq": "Sidekiq",
         "rq": "RQ", "naive": "hiredis loop", "naive x100": "hiredis x100",
         "beanstalkd x100": "beanstalkd x100"}
LINES = [
    ("drain", "drain, 2 processes (jobs/s)"),
    ("submit bulk", "submit in bulk (jobs/s)"),
    ("submit one", "submit one by one (jobs/s)"),
    ("latency p50", "steady load: p50 (ms)"),
    ("latency p99", "steady load: p99 (ms)"),
    ("latency max", "steady load: max (ms)"),
    ("memory bytes", "Redis bytes per finished job kept"),
    ("memory rss", "worker process RSS (kB)"),
]


def place(r):
    """(line, column, value) for a row, or None."""
    s, sys_, v = r["scenario"], r["system"], r["variant"]
    col = sys_
    if "100/round trip" in v or "100 a round trip" in v:
        col = sys_ + " x100"
    if s == "drain":
        return "drain", col, r["value"]
    if s == "submit":
        return ("submit one" if "one by one" in v or "1 a call" in v
                else "submit bulk"), col, r["value"]
    if s == "memory":
        if v == "worker process RSS":
            return "memory rss", col, r["value"]
        if "Redis bytes" in v:
            return "memory bytes", col, r["value"]
        return v + " (kB)", col, r["value"]
    if s == "api":
        return "API, %s (%s)" % (v, r["unit"]), col, r["value"]
    if s in ("pipeline", "control"):
        return r["line"], col, r["value"]
    return None


def fmt(x):
    if isinstance(x, float) and x < 100:
        return "%.2f" % x
    return "{:,}".format(int(round(x)))


def main():
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
    cells, loads = {}, []
    for r in rows:
        loads.append(r.get("load", 0))
        if r["scenario"] == "latency":
            for k in ("p50", "p99", "max"):
                cells[("latency " + k, r["system"])] = float(r[k])
            continue
        p = place(r)
        if p:
            cells[(p[0], p[1])] = p[2]
    load = [r["variant"] for r in rows if r["scenario"] == "latency"]
    m = re.match(r"p99, (\d+)/s for (\d+)s", load[0]) if load else None
    if m:
        for i, (k, label) in enumerate(LINES):
            LINES[i] = (k, label.replace("steady load", "%s jobs/s for %s s"
                                         % m.groups()))
    cols = [c for c in COLS if any(k[1] == c for k in cells)]
    known = {k for k, _ in LINES}
    for k, _ in sorted(cells):
        if k not in known:
            LINES.append((k, k))
            known.add(k)
    print("| | " + " | ".join(NAMES.get(c, c) for c in cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for key, label in LINES:
        if not any((key, c) in cells for c in cols):
            continue
        print("| %s | %s |" % (label, " | ".join(
            fmt(cells[(key, c)]) if (key, c) in cells else "" for c in cols)))
    if loads:
        print("\nload average (1 min) during the run: %.1f to %.1f, median %.1f"
              % (min(loads), max(loads), sorted(loads)[len(loads) // 2]))


main()
