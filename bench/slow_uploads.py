#!/usr/bin/env python3
"""Hold N slow concurrent uploads against a PUT server and report its RSS per upload.

usage: slow_uploads.py URL_PREFIX PID... [-n 1000] [--size 65536] [--seconds 6]

Each upload sends its headers, then trickles a Content-Length body of --size bytes over about
--seconds seconds in small pieces, all from one thread (selectors). The RSS (sum of VmRSS of the
given pids: the server's processes) is read before the connections open and at the midpoint, when
every upload is in flight; the result is (mid - before) / N in KiB. Prints one JSON line.
Every upload must end with a 2xx status, else the exit code is 1.
"""
import argparse
import json
import resource
import selectors
import socket
import sys
import time
import urllib.parse


def rss_kib(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("pids", nargs="+", type=int)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--size", type=int, default=65536)
    ap.add_argument("--seconds", type=float, default=6.0)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, a.n * 2 + 100)), hard))
    u = urllib.parse.urlsplit(a.url)
    before = rss_kib(a.pids)
    sel = selectors.DefaultSelector()
    conns = []
    for i in range(a.n):
        s = socket.create_connection((u.hostname, u.port), timeout=30)
        s.setblocking(False)
        path = f"{u.path}slow-{i}.bin"
        s.send(f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {a.size}\r\n\r\n".encode())
        conns.append({"s": s, "sent": 0, "resp": b""})
        sel.register(s, selectors.EVENT_READ, conns[-1])
    piece = max(1, a.size // 32)
    start = time.time()
    mid_rss = None
    deadline = start + a.seconds * 3 + 30
    while time.time() < deadline:
        elapsed = time.time() - start
        target = min(a.size, int(a.size * elapsed / a.seconds))
        for c in conns:
            while c["sent"] < target:
                n = min(piece, target - c["sent"])
                try:
                    c["sent"] += c["s"].send(b"x" * n)
                except BlockingIOError:
                    break
        if mid_rss is None and elapsed >= a.seconds / 2:
            mid_rss = rss_kib(a.pids)
        for key, _ in sel.select(timeout=0.05):
            c = key.data
            try:
                data = key.fileobj.recv(4096)
            except (BlockingIOError, ConnectionResetError):
                data = b""
            c["resp"] += data
            if not data or b"\r\n\r\n" in c["resp"]:
                sel.unregister(key.fileobj)
        if all(c["sent"] >= a.size for c in conns) and not sel.get_map():
            break
    ok = sum(1 for c in conns if c["resp"][:12] in (b"HTTP/1.1 201", b"HTTP/1.1 200", b"HTTP/1.1 204"))
    for c in conns:
        c["s"].close()
    per = (mid_rss - before) / a.n if mid_rss is not None else None
    print(json.dumps({"uploads": a.n, "ok": ok, "rss_before_kib": before, "rss_mid_kib": mid_rss,
                      "rss_per_upload_kib": round(per, 1) if per is not None else None}))
    return 0 if ok == a.n else 1


if __name__ == "__main__":
    sys.exit(main())
