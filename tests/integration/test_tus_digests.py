"""tus uploads get the server's digests like any other upload (issue: "every committed file gets
the default digests, tus uploads included"): the SHA-256 is carried across PATCHes in memory and,
when that state is gone (a restart, a failed PATCH), computed by reading the file once at the
commit. Either way GET answers the strong ETag and Repr-Digest of the content, and the completing
PATCH answers Repr-Digest.
"""
import base64
import hashlib
import http.client
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Server  # noqa: E402

TUS = {"Tus-Resumable": "1.0.0"}
OFFSET = {"Content-Type": "application/offset+octet-stream"}


def repr_digest(data):
    return "sha-256=:%s:" % base64.b64encode(hashlib.sha256(data).digest()).decode()


class TusDigests(unittest.TestCase):
    args = ()
    digests = True

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="sluice-it-")  # ours: it outlives a restart
        self.srv = Server(*self.args, root=self.root).start()

    def tearDown(self):
        self.srv.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def req(self, method, path, headers=None, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
        try:
            c.request(method, path, body=body, headers=dict(TUS, **(headers or {})))
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def create(self, length, name):
        meta = "filename " + base64.b64encode(name.encode()).decode()
        st, h, b = self.req("POST", "/uploads/", {"Upload-Length": str(length), "Upload-Metadata": meta})
        self.assertEqual(st, 201, b)
        return h["location"]

    def patch(self, loc, offset, data, extra=None):
        hdr = dict(OFFSET, **{"Upload-Offset": str(offset)}, **(extra or {}))
        return self.req("PATCH", loc, hdr, data)

    def assert_reads(self, n):
        """The commits that had to read the file for its SHA-256 (none without digests)."""
        st, _, b = self.req("GET", "/metrics")
        line = [x for x in b.decode().splitlines() if x.startswith("sluice_digest_reads_total")]
        self.assertEqual(int(line[0].split()[-1]), n if self.digests else 0)

    def assert_served(self, name, data, h_final):
        self.assertEqual(h_final.get("repr-digest"), repr_digest(data))
        self.assertEqual(h_final.get("sluice-file"), "/files/" + name)
        st, h, b = self.req("GET", "/files/" + name)
        self.assertEqual((st, b), (200, data))
        self.assertEqual(h.get("etag"), '"%s"' % hashlib.sha256(data).hexdigest())
        self.assertEqual(h.get("repr-digest"), repr_digest(data))

    def test_one_patch(self):
        data = os.urandom(3 * 1024 * 1024 + 7)
        loc = self.create(len(data), "one.bin")
        st, h, b = self.patch(loc, 0, data)
        self.assertEqual(st, 204, b)
        self.assert_served("one.bin", data, h)
        self.assert_reads(0)  # hashed as it streamed: no second read

    def test_many_patches_carry_the_hash(self):
        data = os.urandom(5 * 1024 * 1024 + 3)
        loc = self.create(len(data), "many.bin")
        step = 700 * 1024
        for off in range(0, len(data), step):
            st, h, b = self.patch(loc, off, data[off:off + step])
            self.assertEqual(st, 204, b)
        self.assert_served("many.bin", data, h)
        self.assert_reads(0)  # carried from PATCH to PATCH

    def test_a_failed_patch_then_resume(self):
        # a checksum mismatch discards that PATCH's bytes: the hash state goes with them, and the
        # commit reads the file
        data = os.urandom(2 * 1024 * 1024)
        loc = self.create(len(data), "failed.bin")
        st, _, b = self.patch(loc, 0, data[:1024 * 1024])
        self.assertEqual(st, 204, b)
        bad = "sha1 " + base64.b64encode(hashlib.sha1(b"other").digest()).decode()
        st, _, b = self.patch(loc, 1024 * 1024, data[1024 * 1024:], {"Upload-Checksum": bad})
        self.assertEqual(st, 460, b)
        st, h, b = self.patch(loc, 1024 * 1024, data[1024 * 1024:])
        self.assertEqual(st, 204, b)
        self.assert_served("failed.bin", data, h)
        self.assert_reads(1)

    def test_restart_between_patches(self):
        data = os.urandom(3 * 1024 * 1024)
        loc = self.create(len(data), "restart.bin")
        st, _, b = self.patch(loc, 0, data[:1024 * 1024])
        self.assertEqual(st, 204, b)
        self.srv.stop()
        self.srv = Server(*self.args, root=self.root).start()  # the hash state is gone
        st, h, b = self.patch(loc, 1024 * 1024, data[1024 * 1024:])
        self.assertEqual(st, 204, b)
        self.assert_served("restart.bin", data, h)
        self.assert_reads(1)

    def test_concatenation(self):
        a, b_ = os.urandom(1024 * 1024), os.urandom(512 * 1024)
        parts = []
        for piece in (a, b_):
            st, h, b = self.req("POST", "/uploads/", {"Upload-Length": str(len(piece)),
                                                       "Upload-Concat": "partial"})
            self.assertEqual(st, 201, b)
            st, _, b = self.patch(h["location"], 0, piece)
            self.assertEqual(st, 204, b)
            parts.append(h["location"])
        meta = "filename " + base64.b64encode(b"cat.bin").decode()
        st, h, b = self.req("POST", "/uploads/", {"Upload-Concat": "final;" + " ".join(parts),
                                                   "Upload-Metadata": meta})
        self.assertEqual(st, 201, b)
        self.assert_served("cat.bin", a + b_, h)


class TusNoDigests(TusDigests):
    """--digest none: no hash is computed, GET answers a size/mtime ETag."""
    args = ("--digest", "none")

    digests = False


    def assert_served(self, name, data, h_final):
        self.assertIsNone(h_final.get("repr-digest"))
        st, h, b = self.req("GET", "/files/" + name)
        self.assertEqual((st, b), (200, data))
        self.assertIsNone(h.get("repr-digest"))
        self.assertNotEqual(h.get("etag"), '"%s"' % hashlib.sha256(data).hexdigest())


if __name__ == "__main__":
    unittest.main()
