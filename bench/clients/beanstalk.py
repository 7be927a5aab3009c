# beanstalk.py -- beanstalkd's side of bench/run, over its text protocol
# (put, reserve, delete) on plain sockets.  beanstalkd keeps no record of
# a finished job (delete forgets it) and has no results: it is the floor
# of what a job queue costs, not a like-for-like peer.
#   python3 beanstalk.py PORT submit N B        put N jobs, B per round trip
#   python3 beanstalk.py PORT drain N B W       pre-put N, then W processes
#                                               reserve and delete them, B
#                                               per round trip
#   python3 beanstalk.py PORT latency RATE S W  paced puts; W workers time
#                                               each job from its put to the
#                                               reply to its delete
import json
import multiprocessing
import socket
import sys
import time


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise SystemExit("beanstalk.py: connection closed")
            self.buf += chunk
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def body(self, n):
        while len(self.buf) < n + 2:
            self.buf += self.s.recv(65536)
        b, self.buf = self.buf[:n], self.buf[n + 2:]
        return b

    def reply(self):
        """One reply: (word, id, body or None)."""
        parts = self.line().split()
        if parts[0] == b"RESERVED":
            return parts[0], parts[1], self.body(int(parts[2]))
        return parts[0], parts[1] if len(parts) > 1 else None, None


def put_cmd(body):
    return b"put 0 0 120 %d\r\n%s\r\n" % (len(body), body)


def put(c, n, b):
    for i in range(0, n, b):
        k = min(b, n - i)
        c.send(b"".join(put_cmd(b"%d" % (i + j)) for j in range(k)))
        for _ in range(k):
            if c.reply()[0] != b"INSERTED":
                raise SystemExit("beanstalk.py: put refused")


def drain_worker(port, b):
    c = Conn(port)
    held = []
    while True:
        c.send(b"".join(b"delete %s\r\n" % i for i in held) +
               b"reserve-with-timeout 0\r\n" * b)
        for _ in held:
            c.reply()
        held = []
        for _ in range(b):
            word, jid, _body = c.reply()
            if word == b"RESERVED":
                held.append(jid)
        if not held:
            return


def lat_worker(port, out):
    c = Conn(port)
    while True:
        c.send(b"reserve-with-timeout 5\r\n")
        word, jid, body = c.reply()
        if word != b"RESERVED" or body == b"stop":
            if word == b"RESERVED":
                c.send(b"delete %s\r\n" % jid)
                c.reply()
            return
        c.send(b"delete %s\r\n" % jid)
        c.reply()
        out.put((time.monotonic() - float(body)) * 1000)


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    a = [int(x) for x in sys.argv[3:]]
    c = Conn(port)
    if mode == "submit":
        t0 = time.monotonic()
        put(c, a[0], a[1])
        print(json.dumps({"value": round(a[0] / (time.monotonic() - t0)),
                          "unit": "jobs/s", "jobs": a[0]}))
    elif mode == "drain":
        n, b, w = a
        put(c, n, 1000)
        t0 = time.monotonic()
        ps = [multiprocessing.Process(target=drain_worker, args=(port, b))
              for _ in range(w)]
        for p in ps:
            p.start()
        for p in ps:
            p.join()
        print(json.dumps({"value": round(n / (time.monotonic() - t0)),
                          "unit": "jobs/s", "jobs": n}))
    elif mode == "latency":
        rate, secs, w = a
        n = rate * secs
        out = multiprocessing.Queue()
        ps = [multiprocessing.Process(target=lat_worker, args=(port, out))
              for _ in range(w)]
        for p in ps:
            p.start()
        time.sleep(0.2)
        t0 = time.monotonic()
        for i in range(n):
            d = t0 + i / rate - time.monotonic()
            if d > 0:
                time.sleep(d)
            c.send(put_cmd(b"%.9f" % time.monotonic()))
            c.reply()
        lat = sorted(out.get(timeout=30) for _ in range(n))
        for _ in ps:
            c.send(put_cmd(b"stop"))
            c.reply()
        for p in ps:
            p.join()
        print(json.dumps({"p50": round(lat[n // 2], 3),
                          "p99": round(lat[n * 99 // 100], 3),
                          "max": round(lat[-1], 3), "unit": "ms", "jobs": n}))


if __name__ == "__main__":
    main()
