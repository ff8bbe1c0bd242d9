#!/usr/bin/env python3
"""bench/tricklers.py: does a normal upload still go through while thousands of connections
trickle? (docs/security.md; the tests do the same with a few hundred: test_limits.py.)

    bench/tricklers.py [-n 5000] [--sources 1] [--size 64M] [--hold 20] [-- sluice flags…]

Starts build/sluice (SLUICE_BIN) with --limit-loopback and the given flags, opens N connections
from --sources loopback addresses (127.0.1.1, 127.0.1.2, …), each sending a header byte every
second, and meanwhile uploads SIZE bytes with curl from 127.0.0.1. Prints one JSON line: the
connections opened and refused, how many the server still held at the end of --hold, the normal
upload's status and MB/s, and the server's sluice_refused_total by reason. Bounded: the run
ends after --hold seconds.
"""
import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time


def metrics(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    out = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        out += c
    s.close()
    text = out.decode(errors="replace")
    refused = {m.group(1): float(m.group(2)) for m in
               re.finditer(r'sluice_refused_total\{worker="0",reason="(\w+)"\} (\S+)', text)}
    conns = re.search(r'sluice_connections_open\{worker="0"\} (\S+)', text)
    return refused, float(conns.group(1)) if conns else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=5000)
    ap.add_argument("--sources", type=int, default=1)
    ap.add_argument("--size", type=int, default=64 << 20)
    ap.add_argument("--hold", type=float, default=20)
    ap.add_argument("flags", nargs="*")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="sluice-tricklers-")
    err = open(os.path.join(d, "stderr"), "w+b")
    proc = subprocess.Popen([os.environ.get("SLUICE_BIN", "build/sluice"), "--listen",
                             "127.0.0.1:0", "--root", os.path.join(d, "root"), "--limit-loopback",
                             "--durability", "none"] + a.flags,
                            stdout=subprocess.DEVNULL, stderr=err)
    try:
        port = None
        for _ in range(300):
            err.seek(0)
            m = re.search(rb"listening on https?://[^:]+:(\d+)", err.read())
            if m:
                port = int(m.group(1))
                break
            time.sleep(0.05)
        if port is None:
            sys.exit("the server did not start")
        socks, refused_at_connect = [], 0
        for i in range(a.n):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.bind(("127.0.1.%d" % (1 + i % a.sources), 0))
                s.connect_ex(("127.0.0.1", port))
                socks.append(s)
            except OSError:
                refused_at_connect += 1
                s.close()
        stop = threading.Event()

        def drip():
            while not stop.is_set():
                for s in list(socks):
                    try:
                        s.send(b"X")
                    except OSError:
                        socks.remove(s)
                        s.close()
                stop.wait(1)
        t = threading.Thread(target=drip)
        t.start()
        time.sleep(1)
        data = os.path.join(d, "data")
        with open(data, "wb") as f:
            f.write(os.urandom(a.size))
        t0 = time.time()
        p = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time",
                            str(int(a.hold) + 60), "-T", data,
                            "http://127.0.0.1:%d/files/normal" % port],
                           stdout=subprocess.PIPE, timeout=a.hold + 120)
        took = time.time() - t0
        time.sleep(max(0, a.hold - took))
        refused, open_now = metrics(port)
        stop.set()
        t.join(30)
        print(json.dumps({"tricklers": a.n, "sources": a.sources,
                          "still_open_client_side": len(socks),
                          "server_connections_open": open_now,
                          "normal_upload": {"status": p.stdout.decode(),
                                            "MB_s": round(a.size / took / 1e6, 1)},
                          "refused": refused}))
        for s in socks:
            s.close()
    finally:
        proc.terminate()
        proc.wait(60)
        subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    main()
