"""The S3 store's retries (docs/s3.md) against a real Ceph cluster: sluice reaches radosgw through
a Proxy (s3lab.py) that fails chosen requests before they reach the service (RGW's 503 SlowDown,
or a reset connection), or loses the answer of one the service did.

  transient failures are retried with backoff: a single PUT, GET and HEAD, each part of a
    multipart upload, its creation and its completion (also a completion whose answer was lost:
    sent again it finds the upload completed and checks the object's ETag), a tus PATCH through
    503s on every request; each retry counts in sluice_store_retries_total
  a conditional write (the create-only PUT) is sent again only after a failure that proves it
    was not done (503), never after a reset or a lost answer: 503, not a 412 for our own object;
    after a lost answer HEAD tells: the object there with our SHA-256 is ours (201); none after
    a reset is 503
  a store that keeps failing longer than the retries: 503 with the JSON body, no object and no
    multipart upload left; --s3-retries 0: the first failure is the answer
  a start-up whose first requests to the store meet 503s: retried, and it serves
  two create-only uploads of one large name at once (their completions held up by the proxy so
    that both check the name before either completes): one 201, one 412, and the lock is gone

Run: SLUICE_BIN=build/sluice python3 tests/integration/test_s3_retry.py -v
"""
import base64
import json
import os
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import curl, wait_until  # noqa: E402
from s3lab import (LAB, MIB, Proxy, keys, multipart_uploads, setUpModule,  # noqa: E402,F401
                   tearDownModule)
from test_s3 import S3Base  # noqa: E402

RETRIES = "sluice_store_retries_total"
TUS = "Tus-Resumable: 1.0.0"


class S3RetryTest(S3Base):
    """A sluice whose every request to the store goes through self.proxy."""

    # no tus expiry scan: its listing, on the thread pool, would be cut by a fault window opening
    # (Proxy.fail cuts the connections) and its retry counted among the test's
    extra = ("--tus-expire", "0")

    def setUp(self):
        self.proxy = Proxy(LAB["S3_ENDPOINT"])
        self.endpoint = self.proxy.url
        super().setUp()

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            self.proxy.close()

    def failing(self, n, how, match, action, retries=None, srv=None):
        """action() while the next n requests whose request line matches `match` fail `how`;
        checks that all n failed and were sent again (or `retries` times). Its result."""
        srv = srv or self.srv
        r0 = srv.metric(RETRIES)
        self.proxy.fail(n, how, match)
        out = action()
        faulted = self.proxy.faulted
        self.proxy.fail(0)
        self.assertEqual(faulted, n, "requests failed by the proxy")
        # a failure may have met a request of the store's own (the expiry scan on the thread
        # pool), retried like the rest but counted on its own time
        # curl itself sends again, uncounted, a request whose reused connection was reset before
        # any answer, and a bodiless one (GET, HEAD) whose answer was lost so
        by_curl = retries is None and ("reset" in how or (
            how == "lost" and (match.startswith(rb"^GET") or match.startswith(rb"^HEAD"))))
        want = 1 if by_curl else n if retries is None else retries
        got = wait_until(lambda: srv.metric(RETRIES) - r0 >= want and srv.metric(RETRIES) - r0,
                         "retries counted") if want > 0 else srv.metric(RETRIES) - r0
        if by_curl:
            self.assertTrue(1 <= got <= n, got)
        else:
            self.assertEqual(got, n if retries is None else retries)
        return out

    def line(self, method, name, query=rb" "):
        return rb"^%s /%s/%s/%s%s" % (method, LAB["S3_BUCKET"].encode(), self.prefix.encode(),
                                      name.encode(), query)

    def test_single_put_get_head_retried(self):
        data = os.urandom(300_000)
        for how in ("503", "reset", "lost"):  # (lost: the body is sent again from its start)
            name = "a-" + how
            st, h, b = self.failing(2, how, self.line(b"PUT", name), lambda: self.put(name, data))
            self.assertEqual(st, 201, b)
            st, h, b = self.failing(2, how, self.line(b"HEAD", name),
                                    lambda: curl("-I", self.url(name)))
            self.assertEqual((st, h["content-length"]), (200, str(len(data))))
            st, h, b = self.failing(3, how, self.line(b"GET", name), lambda: curl(self.url(name)))
            self.assertEqual((st, b), (200, data))
        self.assertEqual(keys(self.prefix + "/"), [self.prefix + "/a-" + how
                                                   for how in ("503", "lost", "reset")])

    def test_multipart_upload_retried(self):
        data = os.urandom(40 * MIB)  # three parts of 16 MiB
        for how, n, what in (("reset", 3, rb"\?partNumber="), ("503", 4, rb"\?partNumber="),
                             ("reset", 1, rb"\?uploads="), ("reset", 2, rb"\?uploadId="),
                             ("lost", 1, rb"\?uploadId=")):
            name = "big-%s-%s" % (how, what.decode().strip("\\?="))
            method = b"PUT" if what == rb"\?partNumber=" else b"POST"
            st, h, b = self.failing(n, how, self.line(method, name, what),
                                    lambda: self.put(name, data))
            self.assertEqual(st, 201, (how, what, b))
            st, h, b = curl(self.url(name))
            self.assertEqual(st, 200)
            self.assertTrue(b == data, "bytes differ")
        self.assertEqual(multipart_uploads(self.prefix + "/"), [])

    def test_completion_sent_again_that_finds_no_upload_checks_the_object(self):
        """RGW answers a completion sent again after a lost answer with 200; S3 may answer 404
        NoSuchUpload: the proxy answers that to the repeat. The upload is ours when the object's
        ETag is the one its parts make: 201 after a lost answer, never after one that was not
        done (then the upload is aborted: nothing left)."""
        data = os.urandom(20 * MIB)
        done = self.line(b"POST", "done", rb"\?uploadId=")
        st, h, b = self.failing(2, ["lost", "404"], done, lambda: self.put("done", data),
                                retries=1)
        self.assertEqual(st, 201, b)
        self.assertTrue(curl(self.url("done"))[2] == data, "bytes differ")
        undone = self.line(b"POST", "undone", rb"\?uploadId=")
        st, h, b = self.failing(2, ["503", "404"], undone, lambda: self.put("undone", data),
                                retries=1)
        self.assertGreaterEqual(st, 500, b)
        self.assertEqual(keys(self.prefix + "/"), [self.prefix + "/done"])
        wait_until(lambda: multipart_uploads(self.prefix + "/") == [], "no multipart upload left")

    def test_tus_patches_retried_through_slowdowns(self):
        data = os.urandom(20 * MIB)
        st, h, b = curl("-X", "POST", "-H", TUS, "-H", "Upload-Length: %d" % len(data), "-H",
                        "Upload-Metadata: filename " + base64.b64encode(b"t.bin").decode(),
                        "http://127.0.0.1:%d/uploads/" % self.srv.port)
        self.assertEqual(st, 201, b)
        up = h["location"]
        if up.startswith("/"):
            up = "http://127.0.0.1:%d%s" % (self.srv.port, up)
        for off, end in ((0, 12 * MIB), (12 * MIB, len(data))):
            with tempfile.NamedTemporaryFile() as f:
                f.write(data[off:end])
                f.flush()
                st, h, b = self.failing(3, "503", rb"", lambda: curl(
                    "-X", "PATCH", "-H", TUS, "-H", "Upload-Offset: %d" % off, "-H",
                    "Content-Type: application/offset+octet-stream", "--data-binary",
                    "@" + f.name, up))
            self.assertEqual(st, 204, b)
            self.assertEqual(int(h["upload-offset"]), end)
        st, h, b = curl(self.url("t.bin"))
        self.assertEqual(st, 200)
        self.assertTrue(b == data, "bytes differ")

    def test_create_only_put_is_sent_again_only_when_it_was_not_done(self):
        data = b"x" * 5000
        put = lambda name: lambda: self.put(name, data, "If-None-Match: *")  # noqa: E731
        st, h, b = self.failing(2, "503", self.line(b"PUT", "c1"), put("c1"))
        self.assertEqual(st, 201, b)
        st, h, b = self.failing(1, "reset", self.line(b"PUT", "c2"), put("c2"), retries=0)
        self.assertEqual((st, json.loads(b).get("code")), (503, "SL_EUNAVAILABLE"), b)
        self.assertNotIn(self.prefix + "/c2", keys(self.prefix + "/"))
        # its answer lost, the object is there: a repeat would have answered 412 for our own;
        # HEAD (the name's lock still held) finds it with our SHA-256: ours, 201
        st, h, b = self.failing(1, "lost", self.line(b"PUT", "c3"), put("c3"), retries=0)
        self.assertEqual(st, 201, b)
        self.assertEqual(curl(self.url("c3"))[2], data)

    def test_a_store_failing_longer_than_the_retries_is_503_and_leaves_nothing(self):
        for how, what, size in (("503", rb"\?partNumber=", 40 * MIB), ("reset", rb" ", 1000)):
            r0 = self.srv.metric(RETRIES)
            self.proxy.fail(-1, how, self.line(b"PUT", "down", what))
            st, h, b = self.put("down", os.urandom(size))
            self.proxy.fail(0)
            self.assertEqual((st, json.loads(b)["code"]), (503, "SL_EUNAVAILABLE"), b)
            self.assertGreaterEqual(self.srv.metric(RETRIES) - r0, 4, "--s3-retries' default")
            self.assert_nothing_left()
        srv = self.server(self.proxy.url, "--s3-retries", "0", *self.extra)
        try:
            st, h, b = self.failing(1, "503", self.line(b"PUT", "once"), lambda: curl(
                "--data-binary", "x", "-X", "PUT", "http://127.0.0.1:%d/files/once" % srv.port),
                retries=0, srv=srv)
            self.assertEqual(st, 503, b)
        finally:
            self.assertEqual(srv.stop(), 0)
        self.assert_nothing_left()

    def test_start_up_through_slowdowns(self):
        """The blocking requests (the bucket's HEAD and the sweep's listing at start-up, the
        expiry scan) are retried like the rest, on their thread."""
        self.assertEqual(self.srv.stop(), 0)  # (its probes would meet the failures too)
        self.proxy.fail(3, "503", rb"")
        self.srv = self.server(self.proxy.url)
        faulted = self.proxy.faulted
        self.proxy.fail(0)
        self.assertEqual(faulted, 3, "requests failed by the proxy")
        # (the third may be the expiry scan's, after "listening": its retry is counted on its time)
        wait_until(lambda: self.srv.metric(RETRIES) >= 3, "three retries counted")
        self.assertEqual(self.srv.metric(RETRIES), 3)
        self.assertEqual(self.put("after", b"up")[0], 201)

    def test_concurrent_create_only_of_one_large_name(self):
        data = [os.urandom(20 * MIB), os.urandom(20 * MIB)]  # two parts each
        out = [None, None]

        def create(i):
            out[i] = self.put("race.bin", data[i], "If-None-Match: *")

        def both():
            ts = [threading.Thread(target=create, args=(i,)) for i in (0, 1)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()

        # each completion waits 1.5 s at the proxy: without the lock both would check the name
        # (absent) before either completion lands, and both would answer 201
        self.proxy.fail(2, "delay", self.line(b"POST", "race.bin", rb"\?uploadId="))
        both()
        self.proxy.fail(0)
        sts = sorted(o[0] for o in out)
        self.assertEqual(sts, [201, 412], [o[2] for o in out])
        won = data[[o[0] for o in out].index(201)]
        self.assertTrue(curl(self.url("race.bin"))[2] == won, "the object is the winner's")
        self.assertEqual(self.put("race.bin", b"small", "If-None-Match: *")[0], 412)
        self.assertEqual(keys(self.prefix + "/"), [self.prefix + "/race.bin"], "no lock left")
        wait_until(lambda: multipart_uploads(self.prefix + "/") == [], "no multipart upload left")


if __name__ == "__main__":
    unittest.main()
