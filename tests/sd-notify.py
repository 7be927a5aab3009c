#!/usr/bin/python3
"""sd-notify.py SOCKET LOG [CHECK...] -- a service manager's notification
socket, for the tests: binds the unix datagram socket SOCKET (what
NOTIFY_SOCKET names), and appends one line to LOG per datagram received:
its time in ms and its text (newlines as spaces).  When a datagram says
READY=1 and CHECK is given, CHECK runs at once and a line "check ok" or
"check failed" follows, so that a test learns what was true when the
service said it was ready.  Runs until killed.
"""
import os
import socket
import subprocess
import sys
import time


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, log, check = argv[1], argv[2], argv[3:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o700)
    while True:
        data = s.recv(4096)
        text = data.decode("utf-8", "replace").strip().replace("\n", " ")
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{int(time.time() * 1000)} {text}\n")
        if check and "READY=1" in text.split(" "):
            rc = subprocess.call(check, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            with open(log, "a", encoding="utf-8") as f:
                f.write(f"{int(time.time() * 1000)} check "
                        f"{'ok' if rc == 0 else 'failed'}\n")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
