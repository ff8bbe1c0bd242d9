"""tus concatenation on the S3 store (storage/s3_concat.c), against a real Ceph cluster
(tests/s3/ceph.sh, up for this module), with two sluice nodes on one bucket prefix (node B
through a proxy that can fail a request, with --s3-retries 0 and --s3-part-size 5M):

  partials of mixed sizes across S3's 5 MiB part minimum (6 MiB, 1 MiB, 6 MiB, 1 MiB: copied
    parts and read ones), written through node A, joined through node B: the object is
    byte-identical, its Repr-Digest is its SHA-256, the final's HEAD is that of the fs store,
    the partials are gone (404) and nothing is left in the bucket but the final's record
  small partials (and an empty one) gathered with a 12 MiB one in data parts of 5 MiB: ranged
    reads
  a final whose second part copy fails (503): nothing visible, the final's multipart upload
    aborted, only the sealed partials left; the same final again then works from them
  refused finals (an unfinished partial, an unknown one, a plain upload) answer 400, a sum past
    --max-size 413, as on the filesystem store: nothing visible, no object or multipart upload of the final; the partials
    survive and a final of them then works
  sluice-up --parts and tus-js-client's parallelUploads against the S3 nodes: the file arrives
    whole (sluice-up: verified)

Run: SLUICE_BIN=build/sluice python3 tests/integration/test_s3_concat.py -v
"""
import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LIMIT, TOP, Server, curl, wait_until  # noqa: E402
from s3lab import LAB, MIB, PART, Proxy, keys, multipart_uploads, setUpModule, tearDownModule  # noqa: E402,F401

TUS = "Tus-Resumable: 1.0.0"
UP = os.environ.get("SLUICE_UP_BIN", os.path.join(TOP, "build", "sluice-up"))
UPLOAD_JS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tus", "upload.js")


def b64(s):
    return base64.b64encode(s.encode()).decode()


class Concat(unittest.TestCase):
    def setUp(self):
        self.prefix = "cc-" + self._testMethodName.replace("_", "-") + "-" + os.urandom(3).hex()
        self.spool = tempfile.mkdtemp(prefix="sluice-spool-")
        os.environ.update({k: LAB[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
        self.proxy = Proxy(LAB["S3_ENDPOINT"])  # node B's way to the service, faults on demand
        self.a = self.node(LAB["S3_ENDPOINT"])
        self.b = self.node(self.proxy.url, "--s3-retries", "0", "--s3-part-size", "5M")

    def node(self, endpoint, *args):
        return Server("--store", "s3://%s/%s" % (LAB["S3_BUCKET"], self.prefix), "--s3-endpoint",
                      endpoint, "--spool", self.spool, *PART, *args).start()

    def tearDown(self):
        for srv in (self.a, self.b):
            out = srv.output()
            rc = srv.stop()
            self.assertEqual(rc, 0, "sluice exited %s: %s" % (rc, out))
            self.assertNotIn("AddressSanitizer", out)
            self.assertNotIn("runtime error", out)
        self.proxy.close()
        self.assertEqual(os.listdir(self.spool), [], "spool files are unlinked")
        shutil.rmtree(self.spool, ignore_errors=True)

    def url(self, srv, path):
        return "http://127.0.0.1:%d%s" % (srv.port, path)

    def post(self, srv, *headers):
        args = ["-X", "POST", "-H", TUS]
        for h in headers:
            args += ["-H", h]
        return curl(*(args + [self.url(srv, "/uploads/")]))

    def partial(self, srv, data, length=None):
        st, h, b = self.post(srv, "Upload-Length: %d" % (len(data) if length is None else length),
                             "Upload-Concat: partial")
        self.assertEqual(st, 201, b)
        uid = h["location"].rsplit("/", 1)[1]
        if data:
            with tempfile.NamedTemporaryFile() as f:
                f.write(data)
                f.flush()
                st, h, b = curl("-X", "PATCH", "-H", TUS, "-H", "Upload-Offset: 0", "-H",
                                "Content-Type: application/offset+octet-stream", "--data-binary",
                                "@" + f.name, self.url(srv, "/uploads/" + uid))
            self.assertEqual(st, 204, b)
        return uid

    def final(self, srv, uids, name=None, *headers):
        hdrs = ["Upload-Concat: final;" + " ".join("/uploads/" + u for u in uids)]
        if name:
            hdrs.append("Upload-Metadata: filename " + b64(name))
        return self.post(srv, *(hdrs + list(headers)))

    def tus_keys(self):
        return keys(self.prefix + "/.sluice/tus/")

    def files(self):
        return [k for k in keys(self.prefix + "/") if "/.sluice/" not in k]

    def assert_joined(self, st, h, b, uids, data, name):
        self.assertEqual(st, 201, b)
        fid = h["location"].rsplit("/", 1)[1]
        self.assertEqual(h.get("sluice-file"), "/files/" + name, h)
        sha = hashlib.sha256(data).digest()
        for srv in (self.a, self.b):
            st, hh, body = curl(self.url(srv, "/files/" + name))
            self.assertEqual(st, 200)
            self.assertTrue(body == data, "bytes differ")
            self.assertEqual(hh.get("repr-digest"), "sha-256=:%s:" % base64.b64encode(sha).decode())
        st, hh, _ = curl("-I", "-H", TUS, self.url(self.a, "/uploads/" + fid))
        self.assertEqual(st, 200)
        self.assertEqual((hh["upload-offset"], hh["upload-length"]), (str(len(data)),) * 2)
        self.assertTrue(hh["upload-concat"].startswith("final;"), hh)
        for u in uids:
            st, _, _ = curl("-I", "-H", TUS, self.url(self.b, "/uploads/" + u))
            self.assertEqual(st, 404, "a partial outlived its final")
        wait_until(lambda: self.tus_keys() == ["%s/.sluice/tus/%s.info" % (self.prefix, fid)],
                   "only the final's record left")
        self.assertEqual(multipart_uploads(self.prefix + "/"), [])
        self.assertEqual(self.files(), ["%s/%s" % (self.prefix, name)])

    def test_mixed_sizes_joined_on_other_node(self):
        data = os.urandom(14 * MIB + 12345)
        cuts = [0, 6 * MIB, 7 * MIB, 13 * MIB, len(data)]  # copied, read, copied, last (small)
        uids = [self.partial(self.a, data[x:y]) for x, y in zip(cuts, cuts[1:])]
        st, h, b = self.final(self.b, uids, "joined.bin")
        self.assert_joined(st, h, b, uids, data, "joined.bin")

    def test_small_partials_gathered(self):
        # small ones (one empty) gathered with the 12 MiB that follows them, read in 5 MiB parts
        # (node B's --s3-part-size): ranged reads of the large one, none of them copied
        data = os.urandom(15 * MIB + 7)
        cuts = [0, MIB, MIB, 2 * MIB + 5, 3 * MIB + 7, len(data)]
        uids = [self.partial(self.a, data[x:y]) for x, y in zip(cuts, cuts[1:])]
        st, h, b = self.final(self.b, uids, "small.bin")
        self.assert_joined(st, h, b, uids, data, "small.bin")

    def test_failed_final_leaves_nothing_then_works(self):
        data = os.urandom(13 * MIB)
        cuts = [0, 6 * MIB, 12 * MIB, len(data)]  # copied, copied, read
        uids = [self.partial(self.a, data[x:y]) for x, y in zip(cuts, cuts[1:])]
        self.proxy.fail(1, "503", match=rb"^PUT [^ ]*[?]partNumber=2&")  # the second copy
        st, h, b = self.final(self.b, uids, "late.bin")
        self.assertEqual((st, self.proxy.faulted), (503, 1), b)
        self.assertEqual(self.files(), [], "a failed final is visible")
        wait_until(lambda: multipart_uploads(self.prefix + "/") == [], "the final's upload aborted")
        sealed = ["%s/.sluice/tus/%s.%s" % (self.prefix, u, x) for u in uids for x in ("data", "info")]
        self.assertEqual(self.tus_keys(), sorted(sealed), "only the sealed partials are left")
        st, hh, _ = curl("-I", "-H", TUS, self.url(self.a, "/uploads/" + uids[0]))
        self.assertEqual((st, hh.get("upload-concat"), hh.get("upload-offset")),
                         (200, "partial", str(6 * MIB)), hh)
        self.assertNotIn("sluice-file", hh, "a sealed partial shows the store's own object")
        st, h, b = self.final(self.b, uids, "late.bin")  # the sealed partials serve again
        self.assert_joined(st, h, b, uids, data, "late.bin")

    def test_refused_finals(self):
        a = self.partial(self.a, os.urandom(6 * MIB))
        unfinished = self.partial(self.a, b"abc", length=5)
        st, h, _ = curl("-X", "POST", "-H", TUS, "-H", "Upload-Length: 3", "-H",
                        "Content-Type: application/offset+octet-stream", "--data-binary", "xyz",
                        self.url(self.a, "/uploads/"))
        self.assertEqual(st, 201)
        plain = h["location"].rsplit("/", 1)[1]
        before = self.tus_keys()
        mpus = sorted(multipart_uploads(self.prefix + "/"))
        for other in (unfinished, "0" * 32, plain):
            with self.subTest(other=other):
                st, h, b = self.final(self.b, [a, other], "no.bin")
                self.assertEqual(st, 400, b)
                self.assertNotIn("location", h)
                self.assertEqual(self.tus_keys(), before, "the final left something")
                self.assertEqual(sorted(multipart_uploads(self.prefix + "/")), mpus)
                st, _, _ = curl("-I", self.url(self.a, "/files/no.bin"))
                self.assertEqual(st, 404)
        small = self.partial(self.a, b"0123456789")
        before = self.tus_keys()
        c = self.node(LAB["S3_ENDPOINT"], "--max-size", "6M")  # a node with a limit
        try:
            st, _, b = self.final(c, [a, small], "big.bin")  # 6 MiB and 10 bytes
            self.assertEqual(st, 413, b)
            self.assertEqual(self.tus_keys(), before, "the final left something")
        finally:
            out = c.output()
            self.assertEqual(c.stop(), 0, out)
        # the partials survived: finish the unfinished one, then join them
        with tempfile.NamedTemporaryFile() as f:
            f.write(b"de")
            f.flush()
            st, _, _ = curl("-X", "PATCH", "-H", TUS, "-H", "Upload-Offset: 3", "-H",
                            "Content-Type: application/offset+octet-stream", "--data-binary",
                            "@" + f.name, self.url(self.a, "/uploads/" + unfinished))
        self.assertEqual(st, 204)
        st, h, b = self.final(self.b, [a, unfinished], "yes.bin")
        self.assertEqual(st, 201, b)
        st, hh, body = curl(self.url(self.a, "/files/yes.bin"))
        self.assertEqual((st, len(body), body[-5:]), (200, 6 * MIB + 5, b"abcde"))

    def test_sluice_up_parts(self):
        work = tempfile.mkdtemp(prefix="sluice-up-")
        try:
            src = os.path.join(work, "up.bin")
            data = os.urandom(13 * MIB + 3)
            with open(src, "wb") as f:
                f.write(data)
            p = subprocess.run([UP, "--json", "--state-dir", os.path.join(work, "state"),
                                "--parts", "3", "--part-min", "1M", src, self.url(self.b, "")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=4 * LIMIT)
            err = p.stderr.decode(errors="replace")
            self.assertEqual(p.returncode, 0, err)
            self.assertIn('"verified":true', p.stdout.decode().replace(" ", ""))
            st, _, body = curl(self.url(self.a, "/files/up.bin"))
            self.assertTrue(st == 200 and body == data, "bytes differ")
            self.assertEqual(multipart_uploads(self.prefix + "/"), [])
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def test_tus_js_client_parallel_uploads(self):
        node = shutil.which("node")
        self.assertTrue(node and os.path.exists(os.path.join(os.path.dirname(UPLOAD_JS),
                                                             "node_modules")),
                        "needs node and `npm ci --prefix tests/integration/tus`")
        work = tempfile.mkdtemp(prefix="sluice-js-")
        try:
            path = os.path.join(work, "js.bin")
            data = os.urandom(20 * MIB + 1)  # three partials of about 6.7 MiB: copied parts
            with open(path, "wb") as f:
                f.write(data)
            p = subprocess.run([node, UPLOAD_JS, path, self.url(self.a, "/uploads/"),
                                "--parallel", "3", "--metadata", "filename=js.bin", "--timeout",
                                "100"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=130)
            res = json.loads(p.stdout.decode().strip().splitlines()[-1])
            self.assertEqual(p.returncode, 0, res)
            self.assertTrue(res["complete"], res)
            st, h, body = curl(self.url(self.b, "/files/js.bin"))
            self.assertTrue(st == 200 and body == data, "bytes differ")
            self.assertEqual(multipart_uploads(self.prefix + "/"), [])
            self.assertEqual(self.files(), ["%s/js.bin" % self.prefix])
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
