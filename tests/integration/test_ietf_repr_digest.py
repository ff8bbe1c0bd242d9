"""A Repr-Digest sent with an IETF draft upload's creation (RFC 9530; docs/resumable.md,
"Digests") is compared with the whole upload when it completes, however many appends brought
it and across a server restart (the record keeps it: `repr sha-256=<hex>`).

a. a matching sha-256, completed over three appends: 200, the file stored byte-identical;
b. a mismatching sha-256, completed over three appends: the completing append is a 400 problem
   (SL_ECHECKSUM), no file under the final name (nor anywhere), the upload gone (404), and
   counted as a failed upload;
c. the same across a restart (the hash carried along the appends is lost, the commit reads the
   file): a mismatch refused, a match committed; sha-512 (always read back) both ways;
d. only an algorithm sluice does not compute (md5, unixsum-like names): ignored, the upload
   completes; a malformed Repr-Digest: 400 at creation;
e. an optimistic creation (the whole body with Upload-Complete: ?1) with a wrong Repr-Digest, and
   a mismatch on a server with --digest none: refused, nothing stored.
"""
import base64
import hashlib
import http.client
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_tus_client as tc  # noqa: E402

PROBLEM = "https://iana.org/assignments/http-problem-types#"


def b64(data):
    return base64.b64encode(data).decode()


def repr_digest(data, alg="sha-256"):
    h = hashlib.sha256(data) if alg == "sha-256" else hashlib.sha512(data)
    return "%s=:%s:" % (alg, b64(h.digest()))


class ReprDigestTest(tc.TusClientTest):
    """test_tus_client's server helpers and checks (no node needed), none of its tests."""

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="sluice-repr-files-")
        self.root = tempfile.mkdtemp(prefix="sluice-repr-root-")
        self.servers = []
        self.proxies = []
        self.data = os.urandom(3 * 100000 + 123)

    def stop(self, srv):
        out, rc = srv.output(), srv.stop()
        self.servers.remove(srv)
        self.assertEqual(rc, 0, out[-3000:])

    def req(self, port, method, path, headers=None, body=None):
        h = {"Upload-Draft-Interop-Version": "8"}
        h.update(headers or {})
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def create(self, port, name, digest, **extra):
        h = {"Upload-Complete": "?0", "Upload-Length": str(len(self.data)),
             "Content-Disposition": 'attachment; filename="%s"' % name}
        if digest is not None:
            h["Repr-Digest"] = digest
        h.update(extra)
        st, hh, body = self.req(port, "POST", "/uploads/", h)
        self.assertEqual(st, 201, "%s %s %s" % (st, hh, body))
        return hh["location"]

    def append(self, port, loc, start, end, complete=False):
        return self.req(port, "PATCH", loc, {
            "Upload-Offset": str(start), "Upload-Complete": "?1" if complete else "?0",
            "Content-Type": "application/partial-upload"}, body=self.data[start:end])

    def appends(self, port, loc, start=0):
        """The rest of the data in appends of 100,000 bytes; the last answer."""
        last = None
        while start < len(self.data):
            end = min(start + 100000, len(self.data))
            last = self.append(port, loc, start, end)
            if end < len(self.data):
                self.assertEqual(last[0], 204, last)
            start = end
        return last

    def final_files(self):
        out = []
        for dp, dn, fn in os.walk(self.root):
            dn[:] = [d for d in dn if not (dp == self.root and d == ".sluice")]
            out += [os.path.relpath(os.path.join(dp, f), self.root) for f in fn]
        return sorted(out)

    def record(self, loc):
        uid = loc.rsplit("/", 1)[1]
        try:
            with open(os.path.join(self.root, ".sluice", "tus", uid + ".info")) as f:
                return f.read()
        except FileNotFoundError:
            return None

    def assert_stored(self, resp, name):
        st, h, body = resp
        self.assertEqual(st, 200, "%s %s %s" % (st, h, body))
        self.assertEqual(h.get("upload-complete"), "?1", h)
        self.assertEqual(json.loads(body)["name"], name)
        with open(os.path.join(self.root, name), "rb") as f:
            self.assertEqual(f.read(), self.data)

    def assert_refused(self, srv, resp, loc, name):
        st, h, body = resp
        self.assertEqual(st, 400, "%s %s %s" % (st, h, body))
        self.assertEqual(h.get("content-type"), "application/problem+json", h)
        self.assertEqual(h.get("upload-complete"), "?0", h)
        p = json.loads(body)
        self.assertEqual(p["status"], 400, p)
        self.assertEqual(p["code"], "SL_ECHECKSUM", p)
        self.assertIn("Repr-Digest", p["title"], p)
        self.assertNotIn(name, self.final_files())
        self.assertEqual(self.final_files(), [], "a refused upload left a file")
        self.assertEqual(self.req(srv.port, "HEAD", loc)[0], 404, "the refused upload remains")
        self.assertIsNone(self.record(loc), "its record remains")

    # --- a, b ----------------------------------------------------------------------------------

    def test_a_match_over_appends(self):
        srv = self.server()
        loc = self.create(srv.port, "a.bin", repr_digest(self.data))
        self.assertIn("repr sha-256=" + hashlib.sha256(self.data).hexdigest(), self.record(loc))
        self.assert_stored(self.appends(srv.port, loc), "a.bin")

    def test_b_mismatch_over_appends(self):
        srv = self.server()
        wrong = bytearray(self.data)
        wrong[-1] ^= 1
        loc = self.create(srv.port, "b.bin", repr_digest(bytes(wrong)))
        self.assert_refused(srv, self.appends(srv.port, loc), loc, "b.bin")
        self.assertEqual(srv.metric("sluice_uploads_failed_total", reason="checksum"), 1)

    # --- c -------------------------------------------------------------------------------------

    def restart_case(self, name, digest):
        srv = self.server()
        loc = self.create(srv.port, name, digest)
        self.assertEqual(self.append(srv.port, loc, 0, 150000)[0], 204)
        self.stop(srv)
        srv = self.server()  # the same root: the record and its repr line are all that is left
        self.assertIn("repr ", self.record(loc))
        return srv, loc, self.appends(srv.port, loc, 150000)

    def test_c_across_restart(self):
        srv, loc, last = self.restart_case("c1.bin", repr_digest(b"something else"))
        self.assert_refused(srv, last, loc, "c1.bin")
        srv, loc, last = self.restart_case("c2.bin", repr_digest(self.data))
        self.assert_stored(last, "c2.bin")

    def test_c_sha512(self):
        srv = self.server()
        loc = self.create(srv.port, "c3.bin", repr_digest(self.data[:-1], "sha-512"))
        self.assert_refused(srv, self.appends(srv.port, loc), loc, "c3.bin")
        both = repr_digest(self.data) + ", " + repr_digest(self.data, "sha-512")
        loc = self.create(srv.port, "c4.bin", both)
        self.assert_stored(self.appends(srv.port, loc), "c4.bin")
        # a right sha-256 does not excuse a wrong sha-512
        loc = self.create(srv.port, "c5.bin", repr_digest(self.data) + ", " +
                          repr_digest(b"x", "sha-512"))
        last = self.appends(srv.port, loc)
        self.assertEqual(last[0], 400, last)
        self.assertEqual(self.final_files(), ["c4.bin"])

    # --- d -------------------------------------------------------------------------------------

    def test_d_unsupported_ignored_malformed_refused(self):
        srv = self.server()
        md5 = "md5=:%s:" % b64(hashlib.md5(b"not the data").digest())
        loc = self.create(srv.port, "d.bin", md5)
        self.assertNotIn("repr ", self.record(loc))
        self.assert_stored(self.appends(srv.port, loc), "d.bin")
        st, h, body = self.req(srv.port, "POST", "/uploads/", {
            "Upload-Complete": "?0", "Upload-Length": "10", "Repr-Digest": "sha-256=:notbase64!:"})
        self.assertEqual(st, 400, "%s %s %s" % (st, h, body))
        self.assertEqual(h.get("content-type"), "application/problem+json", h)

    # --- e -------------------------------------------------------------------------------------

    def test_e_optimistic_and_digest_none(self):
        srv = self.server()
        st, h, body = self.req(srv.port, "POST", "/uploads/", {
            "Upload-Complete": "?1", "Repr-Digest": repr_digest(b"other"),
            "Content-Disposition": 'attachment; filename="e1.bin"'}, body=self.data)
        self.assertEqual(st, 400, "%s %s %s" % (st, h, body))
        self.assertEqual(json.loads(body)["code"], "SL_ECHECKSUM")
        self.assertEqual(self.final_files(), [])
        self.stop(srv)
        srv = self.server("--digest", "none")
        loc = self.create(srv.port, "e2.bin", repr_digest(b"other"))
        self.assert_refused(srv, self.appends(srv.port, loc), loc, "e2.bin")
        loc = self.create(srv.port, "e3.bin", repr_digest(self.data))
        self.assert_stored(self.appends(srv.port, loc), "e3.bin")


for _name in dir(tc.TusClientTest):  # the tus tests run from their own file
    if _name.startswith("test_") and _name not in ReprDigestTest.__dict__:
        setattr(ReprDigestTest, _name, None)


if __name__ == "__main__":
    unittest.main(verbosity=2)
