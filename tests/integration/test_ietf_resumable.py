"""The IETF resumable-upload draft under /uploads/ (docs/resumable.md).

Driven by the real tus-js-client (tests/integration/tus/upload.js --protocol) for the interop
versions it speaks (ietf-draft-03: interop 5, ietf-draft-05: interop 6), and by raw requests for
the newest draft's fields (interop 8). Without node (>= 18) and `npm ci --prefix
tests/integration/tus` the client tests FAIL with a message saying so.

a. each protocol: 120 MiB through a proxy cutting the connection three times (FIN, stall, RST):
   tus-js-client's retries resume from the offset HEAD reports; byte-identical.
b. each protocol: kill -9 of the server while a PATCH is held open at 80 MiB of 160 MiB (after a
   checkpoint recorded it); a new server on the same root reports an offset between that
   checkpoint and what reached it; tus-js-client resumes by URL and the file is byte-identical.
c. the malformed and edge requests, each answered with its status and an RFC 9457 problem (a
   mismatching offset, a wrong media type, an inconsistent length, a completed upload, no
   Upload-Complete, an unknown interop version, a Content-Digest mismatch, too large), and the
   upload's bytes untouched by any of them.
d. creation forms: an optimistic creation (the whole body with Upload-Complete: ?1), a chunked
   ?1 append that ends the upload (its length learnt at the end), GET as offset retrieval,
   cancellation, OPTIONS limits, a filename from Content-Disposition; PUT /files/<name> and
   POST /files/ upgraded to resumable uploads by Upload-Complete.
"""
import hashlib
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LIMIT, sha256_file, tus_record, wait_until  # noqa: E402
import test_tus_client as tc  # noqa: E402

MiB, make_file = tc.MiB, tc.make_file

PROBLEM = "https://iana.org/assignments/http-problem-types#"
PROTOCOLS = (("ietf-draft-03", "5"), ("ietf-draft-05", "6"))


class IetfTest(tc.TusClientTest):
    """tus-js-client's helpers (test_tus_client.py), none of its tests."""

    def setUp(self):  # node is needed by a and b only (need_node)
        self.work = tempfile.mkdtemp(prefix="sluice-ietf-files-")
        self.root = tempfile.mkdtemp(prefix="sluice-ietf-root-")
        self.servers = []
        self.proxies = []

    def need_node(self):
        problem = tc.node_problem()
        if problem:
            self.fail(problem)

    def req(self, port, method, path, headers=None, body=None, version="8", timeout=10):
        h = {"Upload-Draft-Interop-Version": version} if version else {}
        h.update(headers or {})
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def problem(self, resp, status, ptype=None):
        st, h, data = resp
        self.assertEqual(st, status, "%s %s %s" % (st, h, data[:300]))
        self.assertEqual(h.get("content-type"), "application/problem+json", h)
        self.assertEqual(h.get("upload-complete"), "?0", h)
        self.assertNotIn("tus-resumable", h)
        if not data:  # HEAD: the fields only
            return None
        p = json.loads(data)
        self.assertEqual(p["status"], status, p)
        self.assertTrue(p["title"], p)
        if ptype is not None:
            self.assertEqual(p["type"], PROBLEM + ptype, p)
        return p

    def create(self, port, **headers):
        h = {"Upload-Complete": "?0"}
        h.update(headers)
        st, hh, _ = self.req(port, "POST", "/uploads/", h)
        self.assertEqual(st, 201, hh)
        self.assertEqual(hh.get("upload-complete"), "?0", hh)
        self.assertIn("upload-limit", hh)
        return hh["location"]

    def append(self, port, loc, offset, data, complete="?0", ctype="application/partial-upload",
               version="8", **extra):
        h = {"Upload-Offset": str(offset), "Upload-Complete": complete, "Content-Type": ctype}
        h.update(extra)
        return self.req(port, "PATCH", loc, h, body=data, version=version)

    def offset(self, port, loc):
        st, h, _ = self.req(port, "HEAD", loc)
        self.assertEqual(st, 204, h)
        self.assertEqual(h.get("cache-control"), "no-store", h)
        self.assertIn("upload-limit", h)
        return int(h["upload-offset"]), h

    def assert_file(self, res, size, sha):
        last = res["lastResponseHeaders"] or {}
        self.assertEqual(last.get("upload-complete"), "?1", last)
        path = self.committed(last.get("sluice-file"))
        self.assertEqual(os.path.getsize(path), size)
        self.assertEqual(sha256_file(path), sha, "the stored file differs from the source")
        self.assertEqual(self.tmp_dir(), [], ".sluice/tmp leftovers")
        for r in res["requests"]:
            self.assertNotIn("tus-resumable", {k.lower() for k in r.get("resHeaders") or {}}, r)

    # --- a ------------------------------------------------------------------------------------

    def test_a_cut_connections_resume(self):
        self.need_node()
        size = 120 * MiB
        path, sha = make_file(self.work, "cut.bin", size)
        srv = self.server()
        for proto, interop in PROTOCOLS:
            with self.subTest(protocol=proto):
                px = self.proxy(srv.port, cut_every=30 * MiB, max_cuts=3,
                                cut_kinds=("fin", "stall", "rst"))
                rc, res = self.upload(path, px.url + "/uploads/", "--protocol", proto,
                                      "--metadata", "filename=cut-%s.bin" % interop,
                                      "--retry-delays", "0,200,500,1000,1000,1000", "--no-head",
                                      timeout=4 * LIMIT)
                self.assert_ok(rc, res)
                self.assertEqual(len(px.cuts), 3, px.cuts)
                sent = [r["sent"] for r in res["requests"]]
                self.assertTrue(all(s.get("upload-draft-interop-version") == interop
                                    for s in sent), sent)
                patches = [r for r in res["requests"] if r["method"] == "PATCH"]
                self.assertGreaterEqual(len(patches), 2, res["requests"])
                if interop == "6":
                    self.assertTrue(all(p["sent"].get("content-type") ==
                                        "application/partial-upload" for p in patches))
                # tus-js-client 4.3.1 sends Upload-Complete: ?0 even on the PATCH that ends a
                # file read from a stream: the upload completes because its offset reaches the
                # Upload-Length the POST gave (docs/resumable.md), and the answer says ?1
                self.assertIn(patches[-1]["sent"]["upload-complete"], ("?0", "?1"))
                self.assert_file(res, size, sha)
                # every byte counted once: the offsets the PATCHes start from never go back
                # below what a previous answer acknowledged
                acked = 0
                for r in res["requests"]:
                    if r["method"] == "PATCH":
                        self.assertGreaterEqual(int(r["sent"]["upload-offset"]), acked, r)
                    if r["status"] in (200, 204) and r.get("resHeaders"):
                        acked = max(acked, int(r["resHeaders"].get("upload-offset", 0)))

    # --- b ------------------------------------------------------------------------------------

    def kill9_resume(self, proto, interop):
        self.need_node()
        size, kill_at = 160 * MiB, 80 * MiB
        name = "killed-%s.bin" % interop
        path, sha = make_file(self.work, name, size)
        s1 = self.server()
        px = self.proxy(s1.port, rate=50 * MiB, mark=kill_at, hold=True)
        p = subprocess.Popen(self.node_cmd(path, px.url + "/uploads/", "--protocol", proto,
                                           "--metadata", "filename=" + name,
                                           "--retry-delays", "none", timeout=4 * LIMIT),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            fired = px.mark_event.wait(2 * LIMIT)
            if not fired:
                p.kill()
            self.assertTrue(fired, "the proxy forwarded only %d bytes" % px.forwarded)
            infos = lambda: [f for f in self.tus_dir() if f.endswith(".info")]  # noqa: E731
            recorded = wait_until(
                lambda: len(infos()) == 1 and (tus_record(self.root, infos()[0][:-5]) or {}).get(
                    "offset", 0) >= px.forwarded - 4096 and
                tus_record(self.root, infos()[0][:-5])["offset"],
                lambda: "a checkpoint of the %d bytes forwarded: %s" % (px.forwarded, infos()))
            s1.proc.kill()
            s1.proc.wait(LIMIT)
            out, err = p.communicate(timeout=LIMIT)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        sent = px.forwarded
        first = self.parse(p.returncode, out, err)
        self.assertNotEqual(p.returncode, 0, "the upload survived kill -9? %s" % first)
        uid = self.upload_id(first["url"])
        loc = "/uploads/" + uid
        s2 = self.server()
        off, h = self.offset(s2.port, loc)
        self.assertEqual(h.get("upload-complete"), "?0", h)
        self.assertEqual(h.get("upload-length"), str(size), h)
        self.assertLessEqual(off, sent)
        self.assertGreaterEqual(off, recorded)
        rc, res = self.upload(path, s2.url + "/uploads/", "--protocol", proto, "--upload-url",
                              s2.url + loc, "--retry-delays", "none", "--no-head",
                              timeout=4 * LIMIT)
        self.assert_ok(rc, res)
        self.assertEqual([r["method"] for r in res["requests"]][:2], ["HEAD", "PATCH"])
        self.assertEqual(res["requests"][1]["sent"]["upload-offset"], str(off))
        self.assert_file(res, size, sha)
        self.assertEqual(s2.final_files(), [name])

    def test_b_kill9_resume_draft03(self):
        self.kill9_resume(*PROTOCOLS[0])

    def test_b_kill9_resume_draft05(self):
        self.kill9_resume(*PROTOCOLS[1])

    # --- c ------------------------------------------------------------------------------------

    def test_c_malformed_requests(self):
        srv = self.server("--max-size", "1M")
        port = srv.port
        data = os.urandom(3000)
        loc = self.create(port, **{"Upload-Length": "3000"})
        st, h, _ = self.append(port, loc, 0, data[:1000])
        self.assertEqual((st, h.get("upload-offset"), h.get("upload-complete")), (204, "1000", "?0"))

        p = self.problem(self.append(port, loc, 500, data[500:900]), 409,
                         "mismatching-upload-offset")
        self.assertEqual((p["expected-offset"], p["provided-offset"]), (1000, 500))
        self.problem(self.append(port, loc, 1000, data[1000:1100],
                                 ctype="application/offset+octet-stream"), 415)
        # ?1 with no content at 1000 says the length is 1000, the upload said 3000
        self.problem(self.append(port, loc, 1000, b"", complete="?1"), 400,
                     "inconsistent-upload-length")
        self.problem(self.append(port, loc, 1000, data[1000:1100], **{"Upload-Length": "2000"}),
                     400, "inconsistent-upload-length")
        self.problem(self.req(port, "PATCH", loc, {"Upload-Offset": "1000",
                                                   "Content-Type": "application/partial-upload"},
                              body=data[1000:1100]), 400)  # no Upload-Complete
        self.problem(self.append(port, loc, 1000, data[1000:1100], complete="true"), 400)
        self.problem(self.append(port, loc, 1000, data[1000:1100], version="99"), 412)
        bad = "sha-256=:%s:" % __import__("base64").b64encode(b"\0" * 32).decode()
        self.problem(self.append(port, loc, 1000, data[1000:1100],
                                 **{"Content-Digest": bad}), 400)
        self.assertEqual(self.offset(port, loc)[0], 1000, "a refused append moved the offset")
        good = "sha-256=:%s:" % __import__("base64").b64encode(
            hashlib.sha256(data[1000:2000]).digest()).decode()
        st, h, _ = self.append(port, loc, 1000, data[1000:2000], **{"Content-Digest": good})
        self.assertEqual((st, h.get("upload-offset")), (204, "2000"), h)
        self.problem(self.req(port, "PUT", loc, {}), 405)
        # a chunked body for an upload of length 0 is past its length
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"POST /uploads/ HTTP/1.1\r\nHost: x\r\nUpload-Draft-Interop-Version: 8\r\n"
                  b"Upload-Complete: ?0\r\nUpload-Length: 0\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        resp = http.client.HTTPResponse(s)
        resp.begin()
        self.problem((resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()),
                     413)
        s.close()
        self.problem(self.req(port, "POST", "/uploads/", {"Upload-Complete": "?0",
                                                          "Upload-Length": str(2 << 20)}), 413)
        # complete it, then every append is refused as a completed upload
        st, h, body = self.append(port, loc, 2000, data[2000:], complete="?1")
        self.assertEqual((st, h.get("upload-complete")), (200, "?1"), (h, body))
        self.assertEqual(json.loads(body)["size"], 3000)
        self.assertEqual(h.get("repr-digest"), "sha-256=:%s:" % __import__("base64").b64encode(
            hashlib.sha256(data).digest()).decode())
        self.problem(self.append(port, loc, 3000, b"x", complete="?1"), 400, "completed-upload")
        st, h, body = self.append(port, loc, 3000, b"", complete="?1")  # the completion again
        self.assertEqual((st, h.get("upload-complete"), json.loads(body)["size"]), (200, "?1", 3000))
        self.problem(self.append(port, loc, 0, b"x"), 400, "completed-upload")
        off, h = self.offset(port, loc)
        self.assertEqual((off, h.get("upload-complete"), h.get("upload-length")),
                         (3000, "?1", "3000"))
        with open(self.committed(h["sluice-file"]), "rb") as f:
            self.assertEqual(f.read(), data, "the stored file differs")
        self.problem(self.req(port, "HEAD", "/uploads/" + "0" * 32), 404)

    # --- d ------------------------------------------------------------------------------------

    def test_d_creation_forms(self):
        srv = self.server()
        port = srv.port
        data = os.urandom(70000)
        # optimistic creation: everything in the POST, named by Content-Disposition
        st, h, body = self.req(port, "POST", "/uploads/", {
            "Upload-Complete": "?1", "Content-Disposition": 'inline; filename="whole.bin"',
            "Content-Type": "application/octet-stream"}, body=data)
        self.assertEqual((st, h.get("upload-complete")), (201, "?1"), (h, body))
        self.assertTrue(h["location"].startswith("/uploads/"), h)
        self.assertEqual(h.get("content-location"), "/files/whole.bin", h)
        self.assertEqual(json.loads(body)["name"], "whole.bin")
        with open(os.path.join(self.root, "whole.bin"), "rb") as f:
            self.assertEqual(f.read(), data)
        # careful creation, then a chunked ?1 append: the length is learnt when it ends
        loc = self.create(port, **{"Content-Disposition": "inline; filename=chunked.bin"})
        off, h = self.offset(port, loc)
        self.assertEqual(off, 0)
        self.assertNotIn("upload-length", h)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.putrequest("PATCH", loc)
        for k, v in (("Upload-Draft-Interop-Version", "8"), ("Upload-Offset", "0"),
                     ("Upload-Complete", "?1"), ("Content-Type", "application/partial-upload"),
                     ("Transfer-Encoding", "chunked")):
            c.putheader(k, v)
        c.endheaders()
        for i in range(0, len(data), 7000):
            part = data[i:i + 7000]
            c.send(b"%x\r\n%s\r\n" % (len(part), part))
        c.send(b"0\r\n\r\n")
        r = c.getresponse()
        r.read()
        c.close()
        self.assertEqual((r.status, r.getheader("Upload-Complete"), r.getheader("Upload-Length")),
                         (200, "?1", str(len(data))))
        with open(os.path.join(self.root, "chunked.bin"), "rb") as f:
            self.assertEqual(f.read(), data)
        # GET retrieves the offset; DELETE cancels; OPTIONS tells the limits
        loc = self.create(port, **{"Upload-Length": "10"})
        st, h, body = self.req(port, "GET", loc)
        self.assertEqual((st, h.get("upload-offset"), body), (204, "0", b""))
        st, h, _ = self.req(port, "DELETE", loc)
        self.assertEqual(st, 204)
        self.problem(self.req(port, "HEAD", loc), 404)
        st, h, _ = self.req(port, "OPTIONS", "/uploads/")
        self.assertEqual(st, 204)
        self.assertRegex(h.get("upload-limit", ""), r"max-age=\d+")
        st, h, _ = self.req(port, "OPTIONS", "/uploads/", version="6")
        self.assertRegex(h.get("upload-limit", ""), r"expires=\d+")  # before interop 7
        # the target resource itself: PUT /files/<name> with Upload-Complete becomes resumable
        # (careful: ?0 and a length, then appends to the Location); a plain PUT stays a PUT
        st, h, _ = self.req(port, "PUT", "/files/up/graded.bin",
                            {"Upload-Complete": "?0", "Upload-Length": str(len(data))})
        self.assertEqual((st, h.get("upload-complete")), (201, "?0"), h)
        loc = h["location"]
        self.assertTrue(loc.startswith("/uploads/"), h)
        st, h, _ = self.append(port, loc, 0, data[:30000])
        self.assertEqual((st, h.get("upload-offset")), (204, "30000"))
        st, h, body = self.append(port, loc, 30000, data[30000:], complete="?1")
        self.assertEqual((st, h.get("content-location")), (200, "/files/up/graded.bin"), body)
        with open(os.path.join(self.root, "up", "graded.bin"), "rb") as f:
            self.assertEqual(f.read(), data)
        st, h, body = self.req(port, "POST", "/files/", {"Upload-Complete": "?1"}, body=data[:10])
        self.assertEqual((st, h.get("upload-complete")), (201, "?1"), (h, body))
        self.assertTrue(h["location"].startswith("/uploads/"), h)  # named by the upload's id
        self.assertTrue(os.path.isfile(self.committed(h["content-location"])))
        self.problem(self.req(port, "PUT", "/files/x.bin", {"Upload-Complete": "maybe"},
                              body=b"abc"), 400)
        st, h, body = self.req(port, "PUT", "/files/plain.bin", {}, body=b"abc", version=None)
        self.assertEqual(st, 201)
        self.assertEqual(json.loads(body)["name"], "plain.bin")
        self.assertNotIn("upload-complete", h)
        # a tus request on the same URL space is still tus
        st, h, _ = self.req(port, "OPTIONS", "/uploads/", {"Tus-Resumable": "1.0.0"}, version=None)
        self.assertEqual(h.get("tus-version"), "1.0.0", h)


for _name in dir(tc.TusClientTest):  # the tus tests run from their own file
    if _name.startswith("test_") and _name not in IetfTest.__dict__:
        setattr(IetfTest, _name, None)


if __name__ == "__main__":
    unittest.main(verbosity=2)
