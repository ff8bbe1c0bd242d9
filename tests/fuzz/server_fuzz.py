#!/usr/bin/env python3
"""tests/fuzz/server_fuzz.py: the whole server under mutated raw requests (a nightly-style run).

    SLUICE_BIN=build-asan/sluice python3 tests/fuzz/server_fuzz.py [--seconds 300] [--seed N]

Starts the real binary (best an ASan+UBSan build) with access control, small limits and short
timeouts, then for the given time sends requests made by mutating valid seeds (files, forms,
tus, ranges, signed URLs, bearer tokens, chunked bodies): bytes flipped, inserted, deleted or
repeated, header lines duplicated, dropped or swapped, bodies cut, and every request sent in
random pieces. Every 50 requests /healthz must answer 200. At the end the server is stopped with
SIGTERM and must exit 0 with no sanitizer report on stderr. Prints one JSON line: requests sent,
requests/s, the statuses seen (a coverage proxy: each one is a different path through the code).
A failing input is written to server-fuzz-crash-<n>.bin and the run exits 1.

Every loop is bounded by the time given; every socket operation has a timeout.
"""
import argparse
import hashlib
import hmac
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

KEY = b"fuzz-sign-key-0123456789abcdefghijklmnop"
TOKEN = "fuzz-token-0123456789abcdef"


def signed(method, path, exp, mx=None):
    msg = "sluice-v1\n%s\n%s\n%d\n%s\n" % (method, path, exp, "" if mx is None else mx)
    q = "sl-expires=%d%s" % (exp, "" if mx is None else "&sl-max=%d" % mx)
    return "%s?%s&sl-sig=%s" % (path, q, hmac.new(KEY, msg.encode(), hashlib.sha256).hexdigest())


def seeds():
    exp = int(time.time()) + 3600
    auth = "Authorization: Bearer %s\r\n" % TOKEN
    form = (b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n"
            b"Content-Type: text/plain\r\n\r\nhello\r\n--XyZ\r\nContent-Disposition: form-data; "
            b"name=\"t\"\r\n\r\nfield\r\n--XyZ--\r\n")
    out = [
        ("PUT /files/a.bin HTTP/1.1\r\nHost: x\r\n%sContent-Length: 5\r\n\r\n" % auth).encode()
        + b"hello",
        ("PUT /files/d/e.bin HTTP/1.1\r\nHost: x\r\n%sTransfer-Encoding: chunked\r\n\r\n" % auth)
        .encode() + b"5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
        ("POST /files/ HTTP/1.1\r\nHost: x\r\n%sContent-Type: multipart/form-data; boundary=XyZ"
         "\r\nContent-Length: %d\r\n\r\n" % (auth, len(form))).encode() + form,
        ("POST /files/?name=p.txt HTTP/1.1\r\nHost: x\r\n%sContent-Length: 3\r\nContent-Encoding:"
         " identity\r\nRepr-Digest: sha-256=:LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=:\r\n\r\n"
         % auth).encode() + b"abc",
        ("GET /files/a.bin HTTP/1.1\r\nHost: x\r\n%sRange: bytes=1-3,-2\r\nIf-None-Match: \"x\", "
         "W/\"y\"\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n" % auth).encode(),
        ("HEAD /files/ HTTP/1.1\r\nHost: x\r\n%s\r\n" % auth).encode(),
        ("DELETE /files/a.bin HTTP/1.1\r\nHost: x\r\n%s\r\n" % auth).encode(),
        ("POST /uploads/ HTTP/1.1\r\nHost: x\r\n%sTus-Resumable: 1.0.0\r\nUpload-Length: 10\r\n"
         "Upload-Metadata: filename YS50eHQ=,relativePath ZC9hLnR4dA==\r\nUpload-Concat: partial"
         "\r\n\r\n" % auth).encode(),
        ("PATCH /uploads/0123456789abcdef0123456789abcdef HTTP/1.1\r\nHost: x\r\n%sTus-Resumable: "
         "1.0.0\r\nUpload-Offset: 0\r\nUpload-Checksum: sha1 qvTGHdzF6KLavt4PO0gs2a6pQ00=\r\n"
         "Content-Type: application/offset+octet-stream\r\nContent-Length: 5\r\n\r\n" % auth)
        .encode() + b"hello",
        ("POST /uploads/ HTTP/1.1\r\nHost: x\r\n%sTus-Resumable: 1.0.0\r\nUpload-Concat: final;"
         "/uploads/0123456789abcdef0123456789abcdef /uploads/aa\r\n\r\n" % auth).encode(),
        ("OPTIONS /uploads/ HTTP/1.1\r\nHost: x\r\nOrigin: https://a.example\r\n"
         "Access-Control-Request-Method: PATCH\r\n\r\n").encode(),
        ("PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
         % signed("PUT", "/files/s.bin", exp, 10)).encode() + b"abcd",
        ("POST %s HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Length: 4\r\n\r\n"
         % signed("POST", "/uploads/", exp, 100)).encode(),
        b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.0\r\n\r\n",
        ("PUT /files/g.gz HTTP/1.1\r\nHost: x\r\n%sContent-Encoding: gzip\r\nContent-Length: 23"
         "\r\n\r\n" % auth).encode() + bytes.fromhex("1f8b08000000000000ffcb48cdc9c90700863ba6"
                                                     "3605000000"),
    ]
    return out


def mutate(rng, data, pool):
    data = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(9)
        if op == 0 and data:                                  # flip a byte
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif op == 1:                                         # insert interesting bytes
            junk = rng.choice([b"\r\n", b"\n", b"\x00", b":", b" ", b"%", b"%2e%2e/", b"../",
                               b"-1", b"18446744073709551616", b"\xff\xfe", b",", b";", b"=",
                               b"a" * rng.randint(1, 9000), b"Content-Length: 3\r\n",
                               b"Transfer-Encoding: chunked\r\n", b"\t"])
            i = rng.randrange(len(data) + 1)
            data[i:i] = junk
        elif op == 2 and data:                                # delete a run
            i = rng.randrange(len(data))
            del data[i:i + rng.randint(1, 16)]
        elif op == 3 and data:                                # repeat a run
            i = rng.randrange(len(data))
            data[i:i] = data[i:i + rng.randint(1, 64)] * rng.randint(1, 50)
        elif op == 4:                                         # header lines: dup, drop, swap
            head, sep, body = bytes(data).partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            if len(lines) > 2:
                k = rng.randrange(1, len(lines))
                what = rng.randrange(3)
                if what == 0:
                    lines.insert(k, lines[k])
                elif what == 1:
                    del lines[k]
                else:
                    j = rng.randrange(1, len(lines))
                    lines[k], lines[j] = lines[j], lines[k]
            data = bytearray(b"\r\n".join(lines) + sep + body)
        elif op == 5 and data:                                # cut
            del data[rng.randrange(len(data)):]
        elif op == 6:                                         # splice another seed
            other = rng.choice(pool)
            i = rng.randrange(len(data) + 1)
            data[i:] = other[rng.randrange(len(other) + 1):]
        elif op == 7:                                         # a number made extreme
            m = list(re.finditer(rb"\d+", bytes(data)))
            if m:
                x = rng.choice(m)
                data[x.start():x.end()] = rng.choice([b"0", b"00", b"4294967296", b"9" * 25,
                                                      b"9223372036854775807", b"1"])
        else:                                                 # a pipelined second request
            data += rng.choice(pool)
    return bytes(data)


def send(port, data, rng):
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    resp = b""
    try:
        s.settimeout(0.5)
        i = 0
        while i < len(data):
            n = rng.choice([1, 7, 100, 1500, len(data)])
            s.sendall(data[i:i + n])
            i += n
        if rng.random() < 0.8:
            s.shutdown(socket.SHUT_WR)
        s.settimeout(0.1)  # a server waiting for more body: move on, the timeouts get it
        while len(resp) < 1 << 20:
            chunk = s.recv(65536)
            if not chunk:
                break
            resp += chunk
    except OSError:  # timeouts, resets, a socket the server already closed
        pass
    finally:
        s.close()
    return resp


def healthy(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.settimeout(10)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        r = b""
        while True:
            c = s.recv(4096)
            if not c:
                break
            r += c
        s.close()
        return r.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    a = ap.parse_args()
    rng = random.Random(a.seed)
    bin_ = os.environ.get("SLUICE_BIN", "build/sluice")
    d = tempfile.mkdtemp(prefix="sluice-server-fuzz-")
    with open(os.path.join(d, "tokens"), "w") as f:
        f.write("%s all\nfuzz-read-only-0123456789 read alice\n" % TOKEN)
    with open(os.path.join(d, "key"), "wb") as f:
        f.write(KEY)
    err = open(os.path.join(d, "stderr"), "w+b")
    proc = subprocess.Popen([bin_, "--listen", "127.0.0.1:0", "--root", os.path.join(d, "root"),
                             "--token-file", os.path.join(d, "tokens"), "--sign-key",
                             os.path.join(d, "key"), "--max-size", "1M", "--idle-timeout", "2",
                             "--header-timeout", "2", "--min-rate", "1", "--min-rate-window", "2",
                             "--cors-origin", "*", "--durability", "none", "--shutdown-timeout",
                             "2", "--limit-loopback", "--max-conns-per-ip", "200"],
                            stdout=subprocess.DEVNULL, stderr=err)
    port = None
    deadline = time.time() + 30
    while port is None and time.time() < deadline:
        err.seek(0)
        m = re.search(rb"listening on https?://[^:]+:(\d+)", err.read())
        port = int(m.group(1)) if m else None
        time.sleep(0.05)
    if port is None:
        sys.exit("the server did not start")
    try:
        run(a, rng, proc, port, err, d)
    finally:
        if proc.poll() is None:
            proc.kill()


def run(a, rng, proc, port, err, d):
    pool = seeds()
    statuses, sent, failure = {}, 0, None
    t0 = time.time()
    while time.time() - t0 < a.seconds and failure is None:
        data = mutate(rng, rng.choice(pool), pool)
        resp = send(port, data, rng)
        sent += 1
        for code in re.findall(rb"HTTP/1\.[01] (\d{3})", resp):
            statuses[code.decode()] = statuses.get(code.decode(), 0) + 1
        if proc.poll() is not None or (sent % 50 == 0 and not healthy(port)):
            failure = data
    rc = None
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = "hung"
    else:
        rc = proc.returncode
    err.seek(0)
    log = err.read()
    bad = rc != 0 or b"AddressSanitizer" in log or b"runtime error" in log or failure is not None
    print(json.dumps({"seed": a.seed, "requests": sent, "per_s": round(sent / (time.time() - t0)),
                      "statuses": dict(sorted(statuses.items())), "exit": rc, "ok": not bad}))
    if bad:
        path = "server-fuzz-crash-%d.bin" % a.seed
        with open(path, "wb") as f:
            f.write(failure or b"")
        sys.stderr.write(log.decode(errors="replace")[-4000:])
        sys.stderr.write("\nlast input (if the server died or stopped answering): %s\n" % path)
        sys.exit(1)
    subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    main()
