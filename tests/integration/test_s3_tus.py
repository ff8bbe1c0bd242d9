"""tus on the S3 store with two sluice nodes on one bucket prefix (issue 14), against a real
Ceph cluster (tests/s3/ceph.sh, up for this module).

  an upload created on node A goes on through node B (no sticky sessions)
  racing PATCHes on the two nodes: while A's PATCH holds the lock B gets 423; once A's is
    stored, B's PATCH from the old offset gets 409; nothing is corrupted
  node A kill -9'd mid-PATCH: its lock runs out (--s3-lock-lease 2), the client sends again
    through B and the file is byte-identical
  termination through B of an upload A holds parts of: nothing left, 404 on both
  an upload past --tus-expire is removed by the expiry sweep: its parts, tail, lock and record;
    also one listed after more than a page of other keys
  a Repr-Digest sent at creation (IETF draft) with the appends on both nodes: the commit reads
    the data back; a mismatch is refused, a match stored with its digest
  tus-js-client through HAProxy (round-robin, one request per server connection) to both nodes,
    its PATCHes spread over them: byte-identical
After each: no multipart upload, no tail and no lock left; only the upload's record.

Run: SLUICE_BIN=build/sluice python3 tests/integration/test_s3_tus.py -v
"""
import base64
import concurrent.futures
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LIMIT, Server, curl, read_response, status_of, wait_until  # noqa: E402
from s3lab import LAB, MIB, PART, free_port, keys, multipart_uploads, s3, setUpModule, tearDownModule  # noqa: E402,F401

UPLOAD_JS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tus", "upload.js")
TUS = "Tus-Resumable: 1.0.0"


def listening(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class TwoNodes(unittest.TestCase):
    def setUp(self):
        self.prefix = "tus-" + self._testMethodName.replace("_", "-")
        self.spool = tempfile.mkdtemp(prefix="sluice-spool-")
        self.logs = tempfile.mkdtemp(prefix="sluice-logs-")
        os.environ.update({k: LAB[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
        self.a, self.b = self.node("a"), self.node("b")

    def node(self, name):
        return Server("--store", "s3://%s/%s" % (LAB["S3_BUCKET"], self.prefix), "--s3-endpoint",
                      LAB["S3_ENDPOINT"], "--spool", self.spool, "--s3-lock-lease", "2", *PART,
                      "--access-log", os.path.join(self.logs, name)).start()

    def tearDown(self):
        for srv in (self.a, self.b):
            if srv.log.closed:
                continue  # killed and stopped by the test
            out = srv.output()
            rc = srv.stop()
            if rc != -signal.SIGKILL:
                self.assertEqual(rc, 0, "sluice exited %s: %s" % (rc, out))
            self.assertNotIn("AddressSanitizer", out)
            self.assertNotIn("runtime error", out)
        self.assertEqual(os.listdir(self.spool), [], "spool files are unlinked")
        shutil.rmtree(self.spool, ignore_errors=True)
        shutil.rmtree(self.logs, ignore_errors=True)

    def url(self, srv, path):
        return "http://127.0.0.1:%d%s" % (srv.port, path)

    def create(self, srv, length, filename):
        meta = "filename " + base64.b64encode(filename.encode()).decode()
        st, h, b = curl("-X", "POST", "-H", TUS, "-H", "Upload-Length: %d" % length, "-H",
                        "Upload-Metadata: " + meta, self.url(srv, "/uploads/"))
        self.assertEqual(st, 201, b)
        return h["location"].rsplit("/", 1)[1]

    def patch(self, srv, uid, offset, data):
        with tempfile.NamedTemporaryFile() as f:
            f.write(data)
            f.flush()
            return curl("-X", "PATCH", "-H", TUS, "-H", "Upload-Offset: %d" % offset, "-H",
                        "Content-Type: application/offset+octet-stream", "--data-binary",
                        "@" + f.name, self.url(srv, "/uploads/" + uid))[0]

    def offset(self, srv, uid):
        st, h, _ = curl("-I", "-H", TUS, self.url(srv, "/uploads/" + uid))
        self.assertEqual(st, 200)
        return int(h["upload-offset"])

    def open_patch(self, srv, uid, offset, length):
        """A raw PATCH whose body is sent by the caller: the socket."""
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(("PATCH /uploads/%s HTTP/1.1\r\nHost: x\r\n%s\r\nUpload-Offset: %d\r\n"
                   "Content-Type: application/offset+octet-stream\r\nContent-Length: %d\r\n\r\n"
                   % (uid, TUS, offset, length)).encode())
        return s

    def lock_held(self, uid):
        st, body = s3("GET", "/%s/.sluice/tus/%s.lock" % (self.prefix, uid))
        return st == 200 and body.startswith(b"held ")

    def assert_clean(self, uid):
        wait_until(lambda: keys(self.prefix + "/.sluice/tus/") ==
                   ["%s/.sluice/tus/%s.info" % (self.prefix, uid)], "only the record left")
        self.assertEqual(multipart_uploads(self.prefix + "/"), [])

    def test_continue_on_other_node_and_race(self):
        data = os.urandom(24 * MIB)
        uid = self.create(self.a, len(data), "race.bin")
        self.assertEqual(self.patch(self.a, uid, 0, data[:10 * MIB]), 204)
        self.assertEqual(self.offset(self.b, uid), 10 * MIB, "B reads A's record")
        s = self.open_patch(self.a, uid, 10 * MIB, 10 * MIB)
        s.sendall(data[10 * MIB:11 * MIB])
        wait_until(lambda: self.lock_held(uid), "A's PATCH holds the lock")
        self.assertEqual(self.patch(self.b, uid, 10 * MIB, data[10 * MIB:12 * MIB]), 423)
        s.sendall(data[11 * MIB:20 * MIB])
        self.assertEqual(status_of(read_response(s, timeout=LIMIT)), 204)
        s.close()
        self.assertEqual(self.patch(self.b, uid, 10 * MIB, data[10 * MIB:12 * MIB]), 409)
        self.assertEqual(self.offset(self.b, uid), 20 * MIB)
        self.assertEqual(self.patch(self.b, uid, 20 * MIB, data[20 * MIB:]), 204)
        st, h, body = curl(self.url(self.a, "/files/race.bin"))
        self.assertEqual(st, 200)
        self.assertTrue(body == data, "bytes differ")
        self.assert_clean(uid)

    def test_node_killed_mid_patch(self):
        data = os.urandom(30 * MIB)
        uid = self.create(self.a, len(data), "killed.bin")
        s = self.open_patch(self.a, uid, 0, len(data))
        s.sendall(data[:20 * MIB])  # one part sent, a second spooling
        wait_until(lambda: self.lock_held(uid), "A's PATCH holds the lock")
        self.a.stop(signal.SIGKILL)
        s.close()
        self.assertEqual(self.offset(self.b, uid), 0, "a PATCH that did not end counts nothing")
        # the client retries through B; A's lock runs out after its lease (2 s)
        wait_until(lambda: self.patch(self.b, uid, 0, data) == 204, "B takes the upload over",
                   interval=0.5)
        st, h, body = curl(self.url(self.b, "/files/killed.bin"))
        self.assertTrue(st == 200 and body == data, "bytes differ")
        self.assertEqual(h["etag"], '"%s"' % hashlib.sha256(data).hexdigest())
        self.assert_clean(uid)

    def ietf(self, srv, method, path, headers, body=None):
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=LIMIT)
        try:
            c.request(method, path, body=body, headers=dict(headers, **{
                "Upload-Draft-Interop-Version": "8"}))
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def test_repr_digest_across_nodes(self):
        """A Repr-Digest sent at creation (IETF draft) holds when the appends go through two
        nodes: the commit has no SHA-256 carried along and reads the completed data back. A
        match is stored with its digest; a mismatch (sha-256, or sha-512: always read back) is
        refused, nothing under the name, the upload gone; a tus upload spread over the nodes
        gets its SHA-256 too."""
        data = os.urandom(7 * MIB)
        sha256 = base64.b64encode(hashlib.sha256(data).digest()).decode()
        sha512 = base64.b64encode(hashlib.sha512(data).digest()).decode()
        bad = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
        for name, digest, ok in (("good.bin", "sha-256=:%s:" % sha256, True),
                                 ("bad.bin", "sha-256=:%s:" % bad, False),
                                 ("bad512.bin", "sha-256=:%s:, sha-512=:%s:"
                                  % (sha256, base64.b64encode(bytes(64)).decode()), False),
                                 ("good512.bin", "sha-512=:%s:" % sha512, True)):
            st, h, b = self.ietf(self.a, "POST", "/uploads/", {
                "Upload-Complete": "?0", "Upload-Length": str(len(data)), "Repr-Digest": digest,
                "Content-Disposition": 'attachment; filename="%s"' % name})
            self.assertEqual(st, 201, b)
            loc = h["location"]
            loc = loc[loc.index("/uploads/"):]
            st, h, b = self.ietf(self.a, "PATCH", loc, {
                "Upload-Offset": "0", "Upload-Complete": "?0",
                "Content-Type": "application/partial-upload"}, data[:4 * MIB])
            self.assertEqual(st, 204, b)
            st, h, b = self.ietf(self.b, "PATCH", loc, {
                "Upload-Offset": str(4 * MIB), "Upload-Complete": "?1",
                "Content-Type": "application/partial-upload"}, data[4 * MIB:])
            if ok:
                self.assertEqual(st, 200, b)
                self.assertEqual(h.get("repr-digest"), "sha-256=:%s:" % sha256, h)
                st, h, body = curl(self.url(self.a, "/files/" + name))
                self.assertTrue(st == 200 and body == data, "bytes differ")
                self.assertEqual(h.get("repr-digest"), "sha-256=:%s:" % sha256, h)
            else:
                self.assertEqual((st, json.loads(b)["code"]), (400, "SL_ECHECKSUM"), b)
                self.assertEqual(self.ietf(self.a, "HEAD", loc, {})[0], 404)
                self.assertNotIn(self.prefix + "/" + name, keys(self.prefix + "/"))
        wait_until(lambda: [k for k in keys(self.prefix + "/") if "/.sluice/tus/" in k and
                            not k.endswith(".info")] == [], "only records left")
        self.assertEqual(sorted(k for k in keys(self.prefix + "/") if "/.sluice/" not in k),
                         [self.prefix + "/good.bin", self.prefix + "/good512.bin"])
        self.assertEqual(len([k for k in keys(self.prefix + "/.sluice/tus/")]), 2,
                         "the refused uploads' records are gone")
        self.assertEqual(multipart_uploads(self.prefix + "/"), [])
        # tus 1.0 over both nodes: the file's SHA-256 read back (sluice_digest_reads_total)
        uid = self.create(self.a, len(data), "tus.bin")
        self.assertEqual(self.patch(self.a, uid, 0, data[:4 * MIB]), 204)
        self.assertEqual(self.patch(self.b, uid, 4 * MIB, data[4 * MIB:]), 204)
        st, h, body = curl("-I", self.url(self.b, "/files/tus.bin"))
        self.assertEqual(h.get("repr-digest"), "sha-256=:%s:" % sha256, h)

    def test_terminate_on_other_node(self):
        data = os.urandom(20 * MIB)  # a part and a tail
        uid = self.create(self.a, 30 * MIB, "gone.bin")
        self.assertEqual(self.patch(self.a, uid, 0, data), 204)
        self.assertEqual(len(multipart_uploads(self.prefix + "/")), 1)
        st, _, b = curl("-X", "DELETE", "-H", TUS, self.url(self.b, "/uploads/" + uid))
        self.assertEqual(st, 204, b)
        self.assertEqual(curl("-I", "-H", TUS, self.url(self.a, "/uploads/" + uid))[0], 404)
        self.assertEqual(self.patch(self.a, uid, 20 * MIB, b"x"), 404)
        self.assertEqual(keys(self.prefix + "/"), [])
        self.assertEqual(multipart_uploads(self.prefix + "/"), [])

    def test_expired_upload_is_removed(self):
        self.b.stop()
        self.b = Server("--store", "s3://%s/%s" % (LAB["S3_BUCKET"], self.prefix),
                        "--s3-endpoint", LAB["S3_ENDPOINT"], "--spool", self.spool,
                        "--tus-expire", "3", *PART).start()
        uid = self.create(self.b, 30 * MIB, "old.bin")
        # (3 s: it is still there for the check below after a slow PATCH, then the sweep comes)
        self.assertEqual(self.patch(self.b, uid, 0, os.urandom(20 * MIB)), 204)  # part and tail
        self.assertEqual(len(multipart_uploads(self.prefix + "/")), 1)
        wait_until(lambda: keys(self.prefix + "/") == [], "the expiry sweep removed it",
                   interval=0.5)
        self.assertEqual(multipart_uploads(self.prefix + "/"), [])
        self.assertEqual(curl("-I", "-H", TUS, self.url(self.a, "/uploads/" + uid))[0], 404)

    def junk(self, method, n):
        """n small objects under .sluice/tus/ named to sort before every upload's keys, created
        (PUT) or removed (DELETE), sixteen requests at a time."""
        def one(i):
            return s3(method, "/%s/.sluice/tus/-junk-%05d" % (self.prefix, i),
                      *(["--data-binary", "x"] if method == "PUT" else []))[0]
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            sts = set(pool.map(one, range(n)))
        self.assertEqual(sts, {200 if method == "PUT" else 204}, "%s of the junk" % method)

    def test_expiry_scan_pages_through_many_keys(self):
        """Past a first page of 1,000 keys that are not records, an expired upload is found:
        the scan reads page after page (start-after), going on where the last scan stopped."""
        self.junk("PUT", 1001)
        try:
            self.assertEqual(len(keys(self.prefix + "/.sluice/tus/-")), 1000, "a full page")
            self.b.stop()
            self.b = Server("--store", "s3://%s/%s" % (LAB["S3_BUCKET"], self.prefix),
                            "--s3-endpoint", LAB["S3_ENDPOINT"], "--spool", self.spool,
                            "--tus-expire", "3", *PART).start()
            uid = self.create(self.b, 100, "late.bin")
            self.assertEqual(self.patch(self.b, uid, 0, b"x" * 10), 204)
            mine = self.prefix + "/.sluice/tus/" + uid
            self.assertTrue(keys(mine), "its record")
            wait_until(lambda: keys(mine) == [], "the expiry sweep found it past the junk",
                       interval=0.5)
            self.assertEqual(curl("-I", "-H", TUS, self.url(self.a, "/uploads/" + uid))[0], 404)
        finally:
            self.junk("DELETE", 1001)

    def test_tus_js_client_through_haproxy(self):
        node = shutil.which("node")
        self.assertTrue(node and os.path.exists(os.path.join(os.path.dirname(UPLOAD_JS),
                                                             "node_modules")),
                        "needs node and `npm ci --prefix tests/integration/tus`")
        port = free_port()
        cfg = os.path.join(self.logs, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write("defaults\n  mode http\n  timeout connect 5s\n  timeout client 60s\n"
                    "  timeout server 60s\n  option http-server-close\n"
                    "frontend f\n  bind 127.0.0.1:%d\n  default_backend nodes\n"
                    "backend nodes\n  balance roundrobin\n"
                    "  server a 127.0.0.1:%d\n  server b 127.0.0.1:%d\n"
                    % (port, self.a.port, self.b.port))
        hap = subprocess.Popen(["haproxy", "-f", cfg, "-db"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
        try:
            wait_until(lambda: listening(port), "haproxy")
            data = os.urandom(22 * MIB)
            path = os.path.join(self.logs, "file.bin")
            with open(path, "wb") as f:
                f.write(data)
            p = subprocess.run([node, UPLOAD_JS, path, "http://127.0.0.1:%d/uploads/" % port,
                                "--chunk-size", str(6 * MIB), "--metadata", "filename=js.bin",
                                "--timeout", "100"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=130)
            res = json.loads(p.stdout.decode().strip().splitlines()[-1])
            self.assertEqual(p.returncode, 0, res)
        finally:
            hap.terminate()
            hap.wait(timeout=LIMIT)
        st, h, body = curl(self.url(self.a, "/files/js.bin"))
        self.assertTrue(st == 200 and body == data, "bytes differ")
        for name in ("a", "b"):  # each node took PATCHes of the one upload
            with open(os.path.join(self.logs, name)) as f:
                self.assertIn('"PATCH"', f.read(), "node %s served no PATCH" % name)
        self.assert_clean(res["url"].rsplit("/", 1)[1])


if __name__ == "__main__":
    unittest.main()
