#!/usr/bin/env python3
"""Concurrency: 200 uploads of 1 MiB in flight at once, each verified byte-for-byte.

Every client sends its request head and the first 64 KiB, then waits until the server holds 200
temp files at the same time (so the uploads really overlap inside the server), then sends the rest.
Half use Content-Length, half chunked. Each 201 JSON is checked against the SHA-256 and CRC-32 the
client computed, and each file is then read back with GET and compared.

Run: SLUICE_BIN=build/sluice python3 tests/integration/test_concurrency.py -v
"""
import concurrent.futures
import hashlib
import http.client
import json
import os
import random
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LIMIT, ServerTest, sha256_file, wait_until  # noqa: E402

N = 200
SIZE = 1 << 20
FIRST = 64 * 1024
PIECE = 128 * 1024


def payload(i):
    return random.Random(1000 + i).randbytes(SIZE)


def remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


class ConcurrentUploads(ServerTest):
    def setUp(self):
        super().setUp()
        self.addCleanup(remove_quietly, self.srv.log_path)  # runs after tearDown closed it

    def upload(self, i, arrived, go, errors):
        """One client. Returns (name, expected sha256, status, headers, body)."""
        data = payload(i)
        name = "c/%03d/upload-%03d.bin" % (i % 7, i)
        sha = hashlib.sha256(data).hexdigest()
        chunked = i % 2 == 1
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=60)
        try:
            c.putrequest("PUT", "/files/" + name, skip_accept_encoding=True)
            if chunked:
                c.putheader("Transfer-Encoding", "chunked")
            else:
                c.putheader("Content-Length", str(SIZE))
            c.endheaders()

            def send(piece):
                c.send(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)

            send(data[:FIRST])
            try:
                arrived.wait(timeout=30)
            except threading.BrokenBarrierError:
                pass
            go.wait(timeout=30)
            for off in range(FIRST, SIZE, PIECE):
                send(data[off:off + PIECE])
            if chunked:
                c.send(b"0\r\n\r\n")
            r = c.getresponse()
            return name, sha, r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        except Exception as e:  # reported by the caller with the client's number
            errors.append((i, repr(e)))
            try:
                arrived.abort()
            except Exception:
                pass
            raise
        finally:
            c.close()

    def test_200_concurrent_1mib_uploads(self):
        t0 = time.time()
        arrived = threading.Barrier(N + 1)
        go = threading.Event()
        errors = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=N) as pool:
            futs = [pool.submit(self.upload, i, arrived, go, errors) for i in range(N)]
            try:
                try:
                    arrived.wait(timeout=30)
                except threading.BrokenBarrierError:
                    self.fail("clients did not all start: %r" % errors[:5])
                # All 200 heads and first pieces are sent, and no client sends more before
                # `go`: the server must come to hold 200 uploads at once.
                peak = [0]

                def held():
                    peak[0] = max(peak[0], len(self.srv.tmp_files()))
                    return peak[0] >= N
                try:
                    wait_until(held, lambda: "the server to hold %d uploads at once (peak %d)"
                               % (N, peak[0]))
                except AssertionError as e:
                    failure = e
                else:
                    failure = None
            finally:
                go.set()
            results = [f.result(timeout=4 * LIMIT) for f in futs]
        self.assertEqual(errors, [])
        self.assertIsNone(failure)

        names = set()
        for name, sha, status, headers, body in results:
            with self.subTest(name=name):
                self.assertEqual(status, 201, body)
                doc = json.loads(body)
                self.assertEqual(doc, {"name": name, "size": SIZE, "sha256": sha})
                self.assertEqual(headers.get("location"), "/files/" + name)
                self.assertTrue(headers.get("etag"))
                names.add(name)
        self.assertEqual(len(names), N)

        # Read every file back over HTTP (16 at a time) and from disk; compare with the source.
        def fetch(item):
            i, name = item
            c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=60)
            try:
                c.request("GET", "/files/" + name)
                r = c.getresponse()
                return i, name, r.status, r.read()
            finally:
                c.close()

        items = [(i, r[0]) for i, r in enumerate(results)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            for i, name, status, got in pool.map(fetch, items):
                self.assertEqual(status, 200, name)
                self.assertEqual(len(got), SIZE, name)
                want = payload(i)
                self.assertTrue(got == want, "GET %s differs from what was uploaded" % name)
                self.assertEqual(sha256_file(os.path.join(self.srv.root, name)),
                                 hashlib.sha256(want).hexdigest(), name)

        self.assertEqual(sorted(self.srv.final_files()), sorted(names))
        wait_until(lambda: not self.srv.tmp_files(), "the temp files to go")
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=LIMIT)
        try:
            c.request("GET", "/files/")
            listing = json.loads(c.getresponse().read())
        finally:
            c.close()
        self.assertEqual(sorted(e["name"] for e in listing["files"]), sorted(names))
        self.assertTrue(all(e["size"] == SIZE for e in listing["files"]))
        sys.stderr.write(" [%d uploads verified in %.1fs] " % (N, time.time() - t0))

    def test_concurrent_posts_get_distinct_names(self):
        """50 simultaneous POSTs without a name: 50 different random names, contents intact."""
        blobs = [os.urandom(10000 + i) for i in range(50)]
        start = threading.Barrier(50)

        def post(data):
            start.wait(timeout=20)
            c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
            try:
                c.request("POST", "/files/", body=data)
                r = c.getresponse()
                return r.status, r.read()
            finally:
                c.close()

        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
            results = list(pool.map(post, blobs))
        names = set()
        for data, (status, body) in zip(blobs, results):
            self.assertEqual(status, 201, body)
            doc = json.loads(body)
            self.assertEqual(doc["sha256"], hashlib.sha256(data).hexdigest())
            with open(os.path.join(self.srv.root, doc["name"]), "rb") as f:
                self.assertEqual(f.read(), data)
            names.add(doc["name"])
        self.assertEqual(len(names), 50)

    def test_concurrent_replace_of_one_name(self):
        """20 clients replace the same name at once: each gets 201, and the survivor is one of
        the uploads, whole (never a mix), with nothing left in the temp area."""
        blobs = [bytes([65 + i]) * (200 * 1024) for i in range(20)]
        start = threading.Barrier(20)

        def put(data):
            start.wait(timeout=20)
            c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
            try:
                c.request("PUT", "/files/contended", body=data)
                r = c.getresponse()
                return r.status, r.read()
            finally:
                c.close()

        with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
            results = list(pool.map(put, blobs))
        for status, body in results:
            self.assertEqual(status, 201, body)
        with open(os.path.join(self.srv.root, "contended"), "rb") as f:
            final = f.read()
        self.assertIn(final, blobs)
        self.assertEqual(self.srv.final_files(), ["contended"])
        wait_until(lambda: not self.srv.tmp_files(), "the temp files to go")


if __name__ == "__main__":
    unittest.main()
