"""Memory bounds of sluice under streaming load (issue 2: "watches the server's memory stay flat").

1. One 2 GiB chunked upload over a raw socket, generated on the fly: the server's peak RSS
   (VmHWM from /proc) stays under 64 MiB, and the stored size and SHA-256 match what was sent.
2. 1,000 concurrent slow uploads (Content-Length 64 KiB, body trickled over a few seconds) held
   open from one thread with selectors: RSS per upload while all are in flight stays under a
   generous 64 KiB (the 16 KiB target is a benchmark, docs/BENCHMARKS.md, not asserted here), and
   every upload completes with 201 and the right size and digest.

Run: cd /work/main && SLUICE_BIN=build/sluice python3 tests/integration/test_memory.py -v
"""
import hashlib
import json
import os
import random
import resource
import selectors
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ServerTest, sha256_file  # noqa: E402

MiB = 1 << 20
KiB = 1 << 10


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def parse_response(buf):
    """(status, headers dict, body) of one complete HTTP response in buf (after any 100
    Continue), or None if incomplete."""
    while True:
        if b"\r\n\r\n" not in buf:
            return None
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        if status == 100:
            buf = rest
            continue
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            headers[k.strip().lower().decode()] = v.strip().decode()
        n = int(headers.get("content-length", "0"))
        if len(rest) < n:
            return None
        return status, headers, rest[:n]


class HugeChunkedUpload(ServerTest):
    """2 GiB, Transfer-Encoding: chunked, peak server RSS < 64 MiB."""

    TOTAL = 2 << 30
    BLOCK = MiB

    def test_2gib_chunked_peak_rss_under_64mib(self):
        srv = self.srv
        rss_before = srv.rss_kib()
        block = random.Random(20240601).randbytes(self.BLOCK)
        nblocks = self.TOTAL // self.BLOCK
        h = hashlib.sha256()
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=60)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * MiB)
        t0 = time.time()
        deadline = t0 + 150
        s.sendall(b"PUT /files/big.bin HTTP/1.1\r\nHost: sluice\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        hwm_samples = []
        for i in range(nblocks):
            # every block differs (counter in its first 8 bytes) so a lost, repeated or
            # reordered block changes the digest
            data = i.to_bytes(8, "little") + block[8:]
            h.update(data)
            # vary the chunk framing a little: one 1 MiB chunk, or two uneven ones
            if i % 3:
                s.sendall(b"%x\r\n" % len(data) + data + b"\r\n")
            else:
                cut = 1 + (i * 7919) % (len(data) - 1)
                s.sendall(b"%x\r\n" % cut + data[:cut] + b"\r\n"
                          + b"%x\r\n" % (len(data) - cut) + data[cut:] + b"\r\n")
            if i % 256 == 0:
                hwm_samples.append(srv.hwm_kib())
            self.assertLess(time.time(), deadline, "2 GiB upload too slow")
        s.sendall(b"0\r\n\r\n")
        t_sent = time.time()
        buf = b""
        s.settimeout(max(1, deadline - time.time()))
        resp = None
        while resp is None:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            resp = parse_response(buf)
        s.close()
        t_done = time.time()
        self.assertIsNotNone(resp, "no complete response: %r" % buf[:300])
        status, headers, body = resp
        self.assertEqual(status, 201, body)
        j = json.loads(body)
        hwm = srv.hwm_kib()
        rss_after = srv.rss_kib()
        print("\n  2 GiB chunked: send %.1fs (%.0f MiB/s), commit+201 %.2fs; server RSS before "
              "%d KiB, peak (VmHWM) %d KiB, after %d KiB"
              % (t_sent - t0, self.TOTAL / MiB / (t_sent - t0), t_done - t_sent, rss_before, hwm,
                 rss_after), file=sys.stderr)
        self.assertEqual(j["name"], "big.bin")
        self.assertEqual(j["size"], self.TOTAL)
        self.assertEqual(j["sha256"], h.hexdigest())
        self.assertEqual(headers.get("location"), "/files/big.bin")
        self.assertLess(hwm, 64 * 1024,  # KiB
                        "peak RSS %d KiB >= 64 MiB (samples %s)" % (hwm, hwm_samples))
        path = os.path.join(srv.root, "big.bin")
        self.assertEqual(os.path.getsize(path), self.TOTAL)
        self.assertEqual(sha256_file(path), h.hexdigest())
        self.assertEqual(srv.tmp_files(), [])


class SlowUploads(ServerTest):
    """1,000 concurrent uploads trickling their bodies."""

    N = 1000
    SIZE = 64 * KiB
    PIECES = 16           # body sent in 16 pieces of 4 KiB
    INTERVAL = 0.25       # seconds between pieces: 16 x 0.25 = ~4 s per upload

    def setUp(self):
        # the server inherits our limit: 1000 sockets + 1000 temp files + its own
        self.nofile = raise_nofile(3 * self.N + 256)
        super().setUp()

    def body_of(self, i):
        return random.Random(i).randbytes(self.SIZE)

    def test_1000_slow_uploads_rss_per_upload(self):
        srv = self.srv
        self.assertGreaterEqual(self.nofile, 2 * self.N + 64)
        time.sleep(0.2)
        rss_before = srv.rss_kib()
        sel = selectors.DefaultSelector()
        conns = []
        t0 = time.time()
        deadline = t0 + 90
        piece = self.SIZE // self.PIECES
        for i in range(self.N):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            err = s.connect_ex(("127.0.0.1", srv.port))
            self.assertIn(err, (0, 115), os.strerror(err))  # 115 = EINPROGRESS
            body = self.body_of(i)
            c = {
                "i": i, "sock": s, "body": body,
                "out": b"PUT /files/slow/%d HTTP/1.1\r\nHost: sluice\r\n"
                       b"Content-Length: %d\r\n\r\n" % (i, self.SIZE),
                "sent_pieces": 0,
                # stagger: pieces of different uploads do not all fall on the same instant
                "next": t0 + 0.5 + (i % 50) * (self.INTERVAL / 50),
                "in": b"", "resp": None, "closed": False,
            }
            conns.append(c)
            sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)

        def flush(c):
            if not c["out"]:
                return
            try:
                n = c["sock"].send(c["out"])
                c["out"] = c["out"][n:]
            except (BlockingIOError, InterruptedError):
                pass

        rss_samples = []
        tmp_in_flight = []
        peak = [0, 0, 0, 0]  # highest RSS seen: KiB, at second, fewest pieces sent, finished
        open_conns = self.N
        while open_conns and time.time() < deadline:
            now = time.time()
            for key, ev in sel.select(timeout=0.02):
                c = key.data
                if ev & selectors.EVENT_WRITE:
                    flush(c)
                if ev & selectors.EVENT_READ:
                    try:
                        data = c["sock"].recv(65536)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except ConnectionError as e:
                        data = b""
                        c["err"] = repr(e)
                    if data:
                        c["in"] += data
                        c["resp"] = parse_response(c["in"])
                    if not data or c["resp"] is not None:
                        sel.unregister(c["sock"])
                        c["sock"].close()
                        c["closed"] = True
                        open_conns -= 1
                        continue
                want = selectors.EVENT_READ | (selectors.EVENT_WRITE if c["out"] else 0)
                if not c["closed"] and key.events != want:
                    sel.modify(c["sock"], want, c)
            for c in conns:
                if c["closed"] or c["sent_pieces"] >= self.PIECES or now < c["next"]:
                    continue
                k = c["sent_pieces"]
                c["out"] += c["body"][k * piece:(k + 1) * piece]
                c["sent_pieces"] += 1
                c["next"] = now + self.INTERVAL
                flush(c)
                if c["out"]:
                    sel.modify(c["sock"], selectors.EVENT_READ | selectors.EVENT_WRITE, c)
            # in the middle of the trickle every upload has its headers and some body in
            sent = [c["sent_pieces"] for c in conns]
            rss_now = srv.rss_kib()
            if rss_now > peak[0]:
                peak[:] = [rss_now, time.time() - t0, min(sent), self.N - open_conns]
            if min(sent) >= 4 and max(sent) <= self.PIECES - 4 and len(rss_samples) < 200:
                rss_samples.append(srv.rss_kib())
                if len(tmp_in_flight) < 5:
                    tmp_in_flight.append(len(srv.tmp_files()))
        elapsed = time.time() - t0
        for c in conns:
            if not c["closed"]:
                c["sock"].close()
        self.assertEqual(open_conns, 0,
                         "%d uploads still open after %.0fs" % (open_conns, elapsed))
        self.assertTrue(rss_samples, "never saw all uploads in flight at once")
        rss_in_flight = max(rss_samples)
        per_upload = (rss_in_flight - rss_before) * KiB / self.N
        hwm = srv.hwm_kib()
        time.sleep(0.5)
        rss_done = srv.rss_kib()
        print("\n  server RSS 0.5s after the last 201: %d KiB" % rss_done, file=sys.stderr)
        print("\n  1000 slow uploads: %.1fs; server RSS before %d KiB, in flight max %d KiB "
              "(min %d, %d samples), VmHWM %d KiB; RSS per upload %.1f KiB; temp files seen in "
              "flight %s; highest RSS sampled %d KiB at %.1fs (fewest pieces sent %d of %d, "
              "%d finished)" % (elapsed, rss_before, rss_in_flight, min(rss_samples),
                                len(rss_samples), hwm, per_upload / KiB, tmp_in_flight,
                                peak[0], peak[1], peak[2], self.PIECES, peak[3]),
              file=sys.stderr)
        bad = []
        for c in conns:
            r = c["resp"]
            if r is None:
                bad.append((c["i"], "no response", c.get("err"), c["in"][:100]))
                continue
            status, _, body = r
            if status != 201:
                bad.append((c["i"], status, body[:100]))
                continue
            j = json.loads(body)
            if j["size"] != self.SIZE or j["sha256"] != hashlib.sha256(c["body"]).hexdigest():
                bad.append((c["i"], "digest", j))
        self.assertEqual(bad[:10], [], "%d of %d uploads failed" % (len(bad), self.N))
        self.assertEqual(max(tmp_in_flight), self.N, "uploads were not all in flight together")
        self.assertLess(per_upload, 64 * KiB, "RSS per slow upload %.1f KiB" % (per_upload / KiB))
        d = os.path.join(srv.root, "slow")
        names = os.listdir(d)
        self.assertEqual(len(names), self.N)
        for n in names:
            self.assertEqual(os.path.getsize(os.path.join(d, n)), self.SIZE)
        self.assertEqual(srv.tmp_files(), [])


if __name__ == "__main__":
    unittest.main()
