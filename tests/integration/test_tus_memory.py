#!/usr/bin/env python3
"""Memory bounds of sluice's tus server (docs/tus.md) under streaming load: test_memory.py's two
bounds for PUT, applied to resumable uploads.

1. One tus upload of 2 GiB: POST /uploads/ with Upload-Length 2 GiB, then a single chunked PATCH
   streamed over a raw socket with data generated on the fly from a seed (its SHA-256 computed as
   it is sent; never 2 GiB in memory). The server's peak RSS (VmHWM from /proc) stays under
   64 MiB, the PATCH ends 204 with Upload-Offset 2 GiB, and the file named by Sluice-File has the
   right size and SHA-256.
2. 500 concurrent slow tus uploads: 500 POSTs (Upload-Length 64 KiB each, 10 at a time), then
   500 PATCHes (Content-Length 64 KiB) held open together from one thread with selectors, their
   bodies trickled over ~5 s (the client, shared with test_memory.py: slowclient.py). Server RSS
   with all of them in flight, minus the RSS before the uploads started (before the POSTs),
   divided by 500, stays under 64 KiB (the figure is printed, with the figure over the RSS after
   the POSTs); every PATCH ends 204 with Upload-Offset 65536 and every committed file is
   byte-correct.

Every wait is bounded; the whole file runs in well under a minute on a 2-core box.

Run: cd /work/main && SLUICE_BIN=build/sluice python3 tests/integration/test_tus_memory.py -v
"""
import base64
import hashlib
import os
import random
import re
import selectors
import socket
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LIMIT, ServerTest, read_until_done, sha256_file, wait_until  # noqa: E402
from slowclient import (  # noqa: E402
    SlowUploadsCase, connect, end_chunked, failures, parse_response, run_all, send_chunk,
    stream_figures)

KiB = 1 << 10
MiB = 1 << 20
OCT = b"application/offset+octet-stream"
LOC_RE = re.compile(r"^/uploads/([0-9a-f]{32})$")


def b64(s):
    return base64.b64encode(s.encode()).decode()


def post_request(length, filename):
    return (b"POST /uploads/ HTTP/1.1\r\nHost: sluice\r\nTus-Resumable: 1.0.0\r\n"
            b"Upload-Length: %d\r\nUpload-Metadata: filename %s\r\n"
            b"Connection: close\r\n\r\n" % (length, b64(filename).encode()))


def tus_data_files(root):
    """{id: size} of the work files ROOT/.sluice/tus/<id>.data."""
    d = os.path.join(root, ".sluice", "tus")
    out = {}
    if os.path.isdir(d):
        for n in os.listdir(d):
            if n.endswith(".data"):
                try:
                    out[n[:-5]] = os.path.getsize(os.path.join(d, n))
                except FileNotFoundError:
                    pass
    return out


def committed_path(root, resp_headers):
    """Path under root of the file a completing PATCH names in Sluice-File."""
    v = resp_headers.get("sluice-file", "")
    if not v.startswith("/files/"):
        return None
    return os.path.join(root, urllib.parse.unquote(v[len("/files/"):]))


class TusTestBase(ServerTest):

    def post(self, length, filename, timeout=15):
        """Create an upload; returns its id."""
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=timeout)
        try:
            s.sendall(post_request(length, filename))
            buf, _ = read_until_done(s, timeout)
        finally:
            s.close()
        resp = parse_response(buf)
        self.assertIsNotNone(resp, "POST: no complete response: %r" % buf[:300])
        status, headers, body = resp
        self.assertEqual(status, 201, body)
        self.assertEqual(headers.get("upload-offset"), "0")
        m = LOC_RE.match(headers.get("location", ""))
        self.assertIsNotNone(m, headers)
        return m.group(1)


class HugeTusUpload(TusTestBase):
    """2 GiB in one chunked PATCH: peak server RSS < 64 MiB."""

    TOTAL = 2 << 30
    BLOCK = MiB
    SEED = 20240602
    REPLY_LIMIT = 4 * LIMIT  # a hang guard for flush + commit + 204 after the last chunk

    def test_2gib_chunked_patch_peak_rss_under_64mib(self):
        srv = self.srv
        rss_before = srv.rss_kib()
        uid = self.post(self.TOTAL, "big.bin")
        # The seeded generator: one random block, each copy stamped with its index (first 8 bytes)
        # and a second stamp in its middle, so a lost, repeated or reordered block changes the
        # digest. Nothing larger than one block is ever held.
        block = random.Random(self.SEED).randbytes(self.BLOCK)
        mid = self.BLOCK // 2
        nblocks = self.TOTAL // self.BLOCK
        h = hashlib.sha256()
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * MiB)
        t0 = time.time()
        s.sendall(b"PATCH /uploads/%s HTTP/1.1\r\nHost: sluice\r\nTus-Resumable: 1.0.0\r\n"
                  b"Content-Type: %s\r\nUpload-Offset: 0\r\n"
                  b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" % (uid.encode(), OCT))
        hwm_samples = []
        for i in range(nblocks):
            tag = i.to_bytes(8, "little")
            data = tag + block[8:mid] + tag[::-1] + block[mid + 8:]
            h.update(data)
            # vary the chunk framing: one 1 MiB chunk, or two uneven ones
            send_chunk(s, data, i)
            if i % 128 == 0:
                hwm_samples.append(srv.hwm_kib())
        end = end_chunked(s, srv, self.REPLY_LIMIT)
        print("\n  tus 2 GiB chunked PATCH: "
              + stream_figures(end, t0, self.TOTAL, rss_before, "flush+commit+204"),
              file=sys.stderr)
        self.assertIsNotNone(end.resp, "no complete response to the PATCH: %r" % end.buf[:300])
        status, headers, body = end.resp
        self.assertEqual(status, 204, (headers, body[:300]))
        self.assertEqual(headers.get("upload-offset"), str(self.TOTAL))
        self.assertEqual(headers.get("tus-resumable"), "1.0.0")
        self.assertEqual(headers.get("sluice-file"), "/files/big.bin")
        self.assertLess(end.hwm, 64 * 1024,  # KiB
                        "peak RSS %d KiB >= 64 MiB (samples %s)" % (end.hwm, hwm_samples))
        path = committed_path(srv.root, headers)
        self.assertEqual(os.path.getsize(path), self.TOTAL)
        self.assertEqual(sha256_file(path), h.hexdigest())
        self.assertNotIn(uid, tus_data_files(srv.root), "work file left after the commit")
        self.assertEqual(srv.tmp_files(), [])


class SlowTusUploads(SlowUploadsCase, TusTestBase):
    """500 concurrent tus PATCHes trickling their bodies (SIZE 64 KiB in PIECES 16 of 4 KiB)."""

    N = 500
    INTERVAL = 0.3        # seconds between pieces: 16 x 0.3 = ~5 s per upload
    SEED = 1000           # body i: random.Random(1000 + i)
    LIMIT = 4 * LIMIT     # a hang guard for the POSTs and for the PATCHes, each
    # POSTs in flight at once. A client POSTs, then PATCHes; 500 POSTs all at once would leave
    # ~20 MiB of freed heap resident (glibc keeps it: the 500 closed connections' libmicrohttpd
    # pools and records, fragmented), which is the POST burst's high-water mark, not memory held
    # by the uploads in flight, and would blur the per-upload figure.
    POST_BATCH = 10

    def test_500_slow_patches_rss_per_upload(self):
        srv = self.srv
        rss_before = self.rss_at_rest()

        # 500 POSTs, POST_BATCH at a time (each on its own connection, closed after the 201)
        sel = selectors.DefaultSelector()
        t0 = time.time()
        posts = []
        for b in range(0, self.N, self.POST_BATCH):
            batch = [connect(sel, srv.port,
                             {"i": i, "out": post_request(self.SIZE, "slow-%d.bin" % i)})
                     for i in range(b, min(self.N, b + self.POST_BATCH))]
            left = run_all(batch, sel, t0 + self.LIMIT)
            self.assertEqual(left, 0, "%d POSTs unanswered after %.0fs" % (left, self.LIMIT))
            posts += batch
        t_posts = time.time() - t0
        ids = []
        for c in posts:
            self.assertIsNotNone(c["resp"], (c["i"], c.get("err"), c["in"][:200]))
            status, headers, body = c["resp"]
            self.assertEqual(status, 201, (c["i"], body[:200]))
            m = LOC_RE.match(headers.get("location", ""))
            self.assertIsNotNone(m, headers)
            ids.append(m.group(1))
        self.assertEqual(len(set(ids)), self.N)
        rss_created = srv.rss_kib()

        # 500 PATCHes held open together, bodies trickled; their last pieces wait until every
        # one has some but not all of its bytes in its work file
        rss_samples = []
        in_flight = []     # work files with some but not all bytes, seen at the gate

        def all_in_flight():
            sizes = tus_data_files(srv.root)
            in_flight.append(sum(1 for u in ids if 0 < sizes.get(u, 0) < self.SIZE))
            if in_flight[-1] == self.N:
                rss_samples.append(srv.rss_kib())
            return in_flight[-1] == self.N

        up = self.slow_client([
            b"PATCH /uploads/%s HTTP/1.1\r\nHost: sluice\r\nTus-Resumable: 1.0.0\r\n"
            b"Content-Type: %s\r\nUpload-Offset: 0\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n" % (ids[i].encode(), OCT, self.SIZE)
            for i in range(self.N)], all_in_flight)

        def sample(rss_now, open_conns, sent):
            # in the middle of the trickle every PATCH has its headers and some body in
            if open_conns == self.N and up.mid_trickle(sent) and len(rss_samples) < 200:
                rss_samples.append(rss_now)

        left = up.run(self.LIMIT, srv.rss_kib, sample)
        elapsed, peak = up.elapsed, up.peak
        hwm = srv.hwm_kib()
        wait_until(lambda: not tus_data_files(srv.root), "the work files to go")
        rss_done = srv.rss_kib()
        per_upload = ((max(rss_samples) - rss_before) * KiB / self.N) if rss_samples else -1
        per_patch = ((max(rss_samples) - rss_created) * KiB / self.N) if rss_samples else -1
        print("\n  tus: %d POSTs %.1fs, %d slow PATCHes %.1fs; server RSS before %d KiB, after "
              "the POSTs %d KiB, in flight max %d KiB (min %d, %d samples), VmHWM %d KiB, "
              "after the last 204 %d KiB; work files seen in flight %s; highest RSS sampled %d "
              "KiB at %.1fs (fewest pieces sent %d of %d, %d finished)"
              % (self.N, t_posts, self.N, elapsed, rss_before, rss_created,
                 max(rss_samples or [0]), min(rss_samples or [0]), len(rss_samples), hwm,
                 rss_done, in_flight[-5:], peak[0], peak[1], peak[2], self.PIECES, peak[3]),
              file=sys.stderr)
        print("  RSS per tus upload (in flight - before the POSTs) / %d: %.1f KiB; "
              "(in flight - after the POSTs) / %d: %.1f KiB"
              % (self.N, per_upload / KiB, self.N, per_patch / KiB), file=sys.stderr)
        self.assertEqual(left, 0, "%d PATCHes still open after %.0fs" % (left, elapsed))
        self.assertTrue(rss_samples, "never saw all PATCHes in flight at once")

        def wrong(c, status, headers, body):
            if status != 204 or headers.get("upload-offset") != str(self.SIZE):
                return (c["i"], status, headers.get("upload-offset"), body[:100])
            if headers.get("sluice-file") != "/files/slow-%d.bin" % c["i"]:
                return (c["i"], "sluice-file", headers.get("sluice-file"))
            with open(committed_path(srv.root, headers), "rb") as f:
                got = f.read()
            if got != c["body"]:
                return (c["i"], "content", len(got))
            return None

        bad = failures(up.conns, wrong)
        self.assertEqual(bad[:10], [], "%d of %d PATCHes failed" % (len(bad), self.N))
        self.assertEqual(max(in_flight), self.N, "PATCHes were not all in flight together")
        self.assertLess(per_upload, 64 * KiB,
                        "RSS per slow tus upload %.1f KiB" % (per_upload / KiB))
        self.assertEqual(len([f for f in srv.final_files() if f.startswith("slow-")]), self.N)
        self.assertEqual(tus_data_files(srv.root), {}, "work files left after the commits")
        self.assertEqual(srv.tmp_files(), [])


if __name__ == "__main__":
    unittest.main()
