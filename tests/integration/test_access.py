#!/usr/bin/env python3
"""Access control (docs/security.md): bearer tokens from --token-file and signed URLs from
--sign-key, on every route (files, forms, tus), refused before any body byte is read.

Every refusal is checked the same way: its status, its JSON error body, no "100 Continue",
nothing written under the root, and the server still serving. Signatures are computed here in
Python from the documented canonical string, so the test also pins the scheme down, and
`sluice sign` is checked against the same computation.

Run: SLUICE_BIN=build/sluice python3 tests/integration/test_access.py -v
"""
import base64
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, LIMIT, Server, ServerTest, curl, exchange, read_until_done,  # noqa: E402
                     status_of, wait_until)

ALL = "all-rights-token-0123456789"
READER = "reader-token-0123456789ab"
WRITER = "writer-token-0123456789ab"
ALICE = "alice-token-0123456789abc"
ONE = "one-upload-token-01234567"
GONE = "removed-on-reload-0123456"
NEW = "added-on-reload-012345678"
QUOTA = "quota-token-0123456789abc"
KEY = b"k" * 20 + b"0123456789abcdefghijkl"  # 42 bytes


def sign(method, path, expires, max_size=None, key=KEY):
    msg = "sluice-v1\n%s\n%s\n%d\n%s\n" % (method, path, expires,
                                           "" if max_size is None else str(max_size))
    return hmac.new(key, msg.encode(), hashlib.sha256).hexdigest()


def signed(method, path, secs=60, max_size=None, expires=None):
    exp = expires if expires is not None else int(time.time()) + secs
    q = "sl-expires=%d" % exp
    if max_size is not None:
        q += "&sl-max=%d" % max_size
    return "%s?%s&sl-sig=%s" % (path, q, sign(method, path, exp, max_size))


def doc_of(resp):
    head, _, body = resp.partition(b"\r\n\r\n")
    while head.startswith(b"HTTP/1.1 100"):
        head, _, body = body.partition(b"\r\n\r\n")
    return head, json.loads(body.decode()) if body.strip() else {}


class AccessTest(ServerTest):
    extra = ()

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sluice-access-")
        self.tokens = os.path.join(self.dir, "tokens")
        self.write_tokens(["%s all" % ALL, "%s read" % READER, "%s write" % WRITER,
                           "%s read,write,delete alice" % ALICE,
                           "sha256:%s write uploads=1" % hashlib.sha256(ONE.encode()).hexdigest(),
                           "%s read,write quota=10" % QUOTA,
                           "# a comment, then a blank line", "", "%s all" % GONE])
        self.key = os.path.join(self.dir, "key")
        with open(self.key, "wb") as f:
            f.write(KEY + b"\n")
        self.access_log = os.path.join(self.dir, "access.log")
        self.root = os.path.join(self.dir, "root")
        os.makedirs(self.root)
        self.srv = Server("--token-file", self.tokens, "--sign-key", self.key, "--access-log",
                          self.access_log, "--log-level", "debug", *self.extra,
                          root=self.root).start()

    def tearDown(self):
        self.srv.stop()
        subprocess.run(["rm", "-rf", self.dir])

    def write_tokens(self, lines):
        with open(self.tokens + ".new", "w") as f:
            f.write("\n".join(lines) + "\n")
        os.rename(self.tokens + ".new", self.tokens)

    # -- requests --------------------------------------------------------------------------------

    def req(self, method, path, token=None, body=None, headers=(), expect=False):
        h = [b"%s %s HTTP/1.1" % (method.encode(), path.encode()), b"Host: x",
             b"Connection: close"]
        if token is not None:
            h.append(b"Authorization: Bearer " + token.encode())
        if body is not None:
            h.append(b"Content-Length: %d" % len(body))
        if expect:
            h.append(b"Expect: 100-continue")
        h += [x.encode() for x in headers]
        data = b"\r\n".join(h) + b"\r\n\r\n"
        if body is not None and not expect:
            data += body
        if expect:  # the head only: a refusal must come without the body
            s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=LIMIT)
            try:
                s.sendall(data)
                resp, how = read_until_done(s, LIMIT)
            finally:
                s.close()
            self.assertNotEqual(how, "timeout", resp)
            return resp
        return exchange(self.srv.port, data)

    def refused(self, resp, status, code):
        self.assertEqual(status_of(resp), status, resp[:400])
        self.assertNotIn(b"HTTP/1.1 100", resp)
        head, doc = doc_of(resp)
        self.assertRegex(head, rb"(?im)^content-type:\s*application/json")
        self.assertEqual(doc.get("status"), status, doc)
        self.assertEqual(doc.get("code"), code, doc)
        if status == 401:
            self.assertRegex(head, rb'(?im)^www-authenticate:\s*Bearer realm="sluice"')
        return doc

    def assert_nothing_written(self, *allowed):
        wait_until(lambda: not self.srv.tmp_files(), "temp files to go")
        self.assertEqual(self.srv.final_files(), sorted(allowed))
        resp = exchange(self.srv.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(status_of(resp), 200)


class Tokens(AccessTest):
    def test_missing_and_wrong_tokens_401_before_the_body(self):
        for token in (None, "no-such-token-0123456789", ALL + "x", ALL[:-1], ""):
            with self.subTest(token=token):
                self.refused(self.req("PUT", "/files/x", token, b"z" * 100, expect=True), 401,
                             "SL_EUNAUTHORIZED")
        self.refused(self.req("GET", "/files/", None), 401, "SL_EUNAUTHORIZED")
        resp = exchange(self.srv.port, b"PUT /files/x HTTP/1.1\r\nHost: x\r\nAuthorization: Basic "
                        b"YTpi\r\nContent-Length: 1\r\nConnection: close\r\n\r\nz")
        self.refused(resp, 401, "SL_EUNAUTHORIZED")
        self.assert_nothing_written()

    def test_rights(self):
        self.assertEqual(status_of(self.req("PUT", "/files/w", WRITER, b"data")), 201)
        self.refused(self.req("PUT", "/files/r", READER, b"data", expect=True), 403, "SL_EDENIED")
        self.assertEqual(status_of(self.req("GET", "/files/w", READER)), 200)
        self.refused(self.req("GET", "/files/w", WRITER), 403, "SL_EDENIED")
        self.refused(self.req("GET", "/files/", READER), 403, "SL_EDENIED")  # no list right
        self.refused(self.req("DELETE", "/files/w", WRITER), 403, "SL_EDENIED")
        self.refused(self.req("DELETE", "/files/w", READER), 403, "SL_EDENIED")
        self.assertEqual(status_of(self.req("GET", "/files/", ALL)), 200)
        self.assertEqual(status_of(self.req("DELETE", "/files/w", ALL)), 204)
        self.assert_nothing_written()

    def test_prefix_confinement(self):
        self.assertEqual(status_of(self.req("PUT", "/files/alice/a", ALICE, b"1")), 201)
        for path in ("/files/bob/a", "/files/alicex", "/files/alice2/a", "/files/x",
                     "/files/%61lice2/a"):
            with self.subTest(path=path):
                self.refused(self.req("PUT", path, ALICE, b"1", expect=True), 403, "SL_EDENIED")
        # escapes are bad names (400) before access control sees them, encoded or not
        for path in ("/files/alice/../bob", "/files/alice/%2e%2e/bob", "/files/alice%2f..%2fbob",
                     "/files/alice/.%2E/bob"):
            with self.subTest(path=path):
                self.assertEqual(status_of(self.req("PUT", path, ALICE, b"1", expect=True)), 400)
        self.refused(self.req("GET", "/files/", ALICE), 403, "SL_EDENIED")  # no list right either
        self.refused(self.req("POST", "/files/", ALICE, b"1", expect=True), 403, "SL_EDENIED")
        self.assertEqual(status_of(self.req("POST", "/files/?name=alice/p", ALICE, b"1")), 201)
        self.refused(self.req("POST", "/files/?name=bob/p", ALICE, b"1", expect=True), 403,
                     "SL_EDENIED")
        for q in ("alice/../bob", "alice%2F..%2Fbob", "alice/%2e%2e/bob", "alice/./x"):
            with self.subTest(name=q):
                resp = self.req("POST", "/files/?name=" + q, ALICE, b"1", expect=True)
                self.assertIn(status_of(resp), (400, 403), resp)
        form = (b"--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n\r\n1\r\n"
                b"--B--\r\n")
        self.refused(self.req("POST", "/files/", ALICE, form, expect=True,
                              headers=["Content-Type: multipart/form-data; boundary=B"]), 403,
                     "SL_EDENIED")
        self.assertEqual(status_of(self.req("GET", "/files/alice/a", ALICE)), 200)
        self.assertEqual(status_of(self.req("DELETE", "/files/alice/a", ALICE)), 204)
        self.assert_nothing_written("alice/p")

    def test_tus_with_tokens(self):
        def md(**kv):
            return ",".join("%s %s" % (k, base64.b64encode(v.encode()).decode()) for k, v in kv.items())
        tus = ["Tus-Resumable: 1.0.0", "Upload-Length: 5"]
        self.refused(self.req("POST", "/uploads/", None, headers=tus), 401, "SL_EUNAUTHORIZED")
        self.refused(self.req("POST", "/uploads/", READER, headers=tus), 403, "SL_EDENIED")
        self.refused(self.req("POST", "/uploads/", ALICE, headers=tus + ["Upload-Metadata: " +
                                                                         md(filename="x")]),
                     403, "SL_EDENIED")
        resp = self.req("POST", "/uploads/", ALICE,
                        headers=tus + ["Upload-Metadata: " + md(relativePath="alice/t.bin")])
        self.assertEqual(status_of(resp), 201, resp)
        loc = re.search(rb"(?im)^location:\s*(\S+)", resp).group(1).decode()
        patch = ["Tus-Resumable: 1.0.0", "Upload-Offset: 0",
                 "Content-Type: application/offset+octet-stream"]
        self.refused(self.req("PATCH", loc, None, b"hello", headers=patch, expect=True), 401,
                     "SL_EUNAUTHORIZED")
        self.refused(self.req("PATCH", loc, None, b"hello", expect=True,
                              headers=patch + ["X-HTTP-Method-Override: PATCH"]), 401,
                     "SL_EUNAUTHORIZED")
        self.assertEqual(status_of(self.req("PATCH", loc, ALICE, b"hello", headers=patch)), 204)
        with open(os.path.join(self.root, "alice", "t.bin"), "rb") as f:
            self.assertEqual(f.read(), b"hello")
        # OPTIONS (tus discovery, CORS preflights) carries no credentials
        self.assertEqual(status_of(self.req("OPTIONS", "/uploads/", None)), 204)

    def test_open_routes(self):
        self.assertEqual(status_of(self.req("GET", "/healthz")), 200)
        self.assertEqual(status_of(self.req("GET", "/metrics")), 200)  # loopback

    def test_concurrent_uploads_per_token(self):
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=LIMIT)
        try:
            s.sendall(b"PUT /files/slow HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                      b"Content-Length: 10\r\n\r\nabc" % ONE.encode())
            wait_until(lambda: self.srv.metric("sluice_uploads_in_flight") >= 1, "the upload")
            self.refused(self.req("PUT", "/files/second", ONE, b"x", expect=True), 429,
                         "SL_ETOOMANY")
            s.sendall(b"defghij")
            resp, _ = read_until_done(s, LIMIT)
            self.assertEqual(status_of(resp), 201, resp)
        finally:
            s.close()
        wait_until(lambda: status_of(self.req("PUT", "/files/third", ONE, b"x")) == 201,
                   "the token's slot to be free again")
        self.assertGreaterEqual(self.srv.metric("sluice_refused_total", reason="token_uploads"), 1)
        self.assert_nothing_written("slow", "third")

    def test_quota(self):
        self.assertEqual(status_of(self.req("PUT", "/files/q1", QUOTA, b"123456")), 201)
        self.refused(self.req("PUT", "/files/q2", QUOTA, b"12345", expect=True), 507, "SL_EQUOTA")
        resp = exchange(self.srv.port, b"PUT /files/q3 HTTP/1.1\r\nHost: x\r\nAuthorization: "
                        b"Bearer %s\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                        b"1\r\nx\r\n0\r\n\r\n" % QUOTA.encode())
        self.refused(resp, 411, "SL_ELENGTHREQUIRED")
        # a refusal after the charge (412: the name exists) gives back what was not sent
        resp = self.req("PUT", "/files/q1", QUOTA, b"1234", expect=True,
                        headers=["If-None-Match: *"])
        self.assertEqual(status_of(resp), 412, resp)
        self.assertEqual(status_of(self.req("PUT", "/files/q4", QUOTA, b"1234")), 201)
        self.refused(self.req("PUT", "/files/q5", QUOTA, b"1", expect=True), 507, "SL_EQUOTA")
        self.assertEqual(status_of(self.req("GET", "/files/q1", QUOTA)), 200)  # reading is free
        self.assertGreaterEqual(self.srv.metric("sluice_refused_total", reason="quota"), 2)
        self.assert_nothing_written("q1", "q4")

    def test_reload_on_sighup(self):
        self.assertEqual(status_of(self.req("GET", "/files/", GONE)), 200)
        self.refused(self.req("GET", "/files/", NEW), 401, "SL_EUNAUTHORIZED")
        self.write_tokens(["%s all" % NEW])
        self.srv.send(signal.SIGHUP)
        wait_until(lambda: status_of(self.req("GET", "/files/", NEW)) == 200, "the new token")
        self.refused(self.req("GET", "/files/", GONE), 401, "SL_EUNAUTHORIZED")
        # a broken file keeps the rules in force
        with open(self.tokens, "w") as f:
            f.write("short all\n")
        self.srv.send(signal.SIGHUP)
        wait_until(lambda: "access rules kept" in self.srv.output(), "the reload's message")
        self.assertEqual(status_of(self.req("GET", "/files/", NEW)), 200)

    def test_tokens_never_logged(self):
        self.req("PUT", "/files/l", ALL, b"1")
        self.req("PUT", "/files/l", "wrong-token-abcdefghijklmn", b"1")
        self.req("PUT", signed("PUT", "/files/s"), None, b"1")
        self.srv.send(signal.SIGHUP)
        wait_until(lambda: "reload" in self.srv.output(), "the reload")
        def log():
            if not os.path.exists(self.access_log):
                return ""
            with open(self.access_log) as f:
                return f.read()
        wait_until(lambda: log().count("\n") >= 3, "the access log")
        text = log() + self.srv.output()
        for secret in (ALL, "wrong-token-abcdefghijklmn", "sl-sig", KEY.decode()[:20]):
            self.assertNotIn(secret, text)


class Signed(AccessTest):
    def test_valid_signed_urls(self):
        self.assertEqual(status_of(self.req("PUT", signed("PUT", "/files/s.bin"), None, b"abc")),
                         201)
        resp = self.req("GET", signed("GET", "/files/s.bin"))
        self.assertEqual(status_of(resp), 200)
        self.assertTrue(resp.endswith(b"abc"))
        self.assertEqual(status_of(self.req("DELETE", signed("DELETE", "/files/s.bin"))), 204)
        self.assert_nothing_written()

    def test_refused_signed_urls(self):
        now = int(time.time())
        good = signed("PUT", "/files/a")
        cases = {
            "expired": signed("PUT", "/files/a", expires=now - 1),
            "tampered signature": good[:-1] + ("0" if good[-1] != "0" else "1"),
            "later expiry": re.sub(r"sl-expires=(\d+)", lambda m: "sl-expires=%d" %
                                   (int(m.group(1)) + 1000), good),
            "another name": good.replace("/files/a", "/files/b"),
            "another name, same prefix": good.replace("/files/a", "/files/ab"),
            "encoded otherwise": good.replace("/files/a", "/files/%61"),
            "no expiry": re.sub(r"sl-expires=\d+&", "", good),
            "mangled expiry": good.replace("sl-expires=", "sl-expires=0"),
            "short signature": good[:-10],
        }
        for what, url in cases.items():
            with self.subTest(what):
                self.refused(self.req("PUT", url, None, b"x", expect=True), 403, "SL_EDENIED")
        self.refused(self.req("DELETE", good), 403, "SL_EDENIED")  # another method
        self.refused(self.req("GET", good), 403, "SL_EDENIED")
        self.refused(self.req("PUT", "/files/a?sl-expires=%d" % (now + 60), None, b"x",
                              expect=True), 401, "SL_EUNAUTHORIZED")
        self.assert_nothing_written()

    def test_max_size(self):
        url = signed("PUT", "/files/m", max_size=10)
        self.refused(self.req("PUT", url, None, b"x" * 11, expect=True), 413, "SL_ETOOLARGE")
        resp = self.req("PUT", url.replace("sl-max=10", "sl-max=11"), None, b"x" * 11, expect=True)
        self.refused(resp, 403, "SL_EDENIED")
        resp = exchange(self.srv.port, b"PUT %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                        b"Connection: close\r\n\r\n1\r\nx\r\n0\r\n\r\n" % url.encode())
        self.refused(resp, 411, "SL_ELENGTHREQUIRED")
        self.assert_nothing_written()
        self.assertEqual(status_of(self.req("PUT", url, None, b"x" * 10)), 201)
        self.assert_nothing_written("m")

    def test_replay_after_expiry(self):
        exp = int(time.time()) + 5  # time for the first PUT on a loaded machine
        url = signed("PUT", "/files/r", expires=exp)
        self.assertEqual(status_of(self.req("PUT", url, None, b"1")), 201)
        wait_until(lambda: time.time() > exp + 1, "the expiry to pass")
        self.refused(self.req("PUT", url, None, b"2", expect=True), 403, "SL_EDENIED")
        with open(os.path.join(self.root, "r"), "rb") as f:
            self.assertEqual(f.read(), b"1")

    def test_tus_creation_signed_with_max_size(self):
        url = signed("POST", "/uploads/", max_size=100)
        tus = ["Tus-Resumable: 1.0.0"]
        self.refused(self.req("POST", url, None, headers=tus + ["Upload-Length: 101"]), 413,
                     "SL_ETOOLARGE")
        self.refused(self.req("POST", url, None, headers=tus + ["Upload-Defer-Length: 1"]), 411,
                     "SL_ELENGTHREQUIRED")
        resp = self.req("POST", url, None, headers=tus + ["Upload-Length: 6"])
        self.assertEqual(status_of(resp), 201, resp)
        loc = re.search(rb"(?im)^location:\s*(\S+)", resp).group(1).decode()
        self.assertIn("sl-sig=", loc)
        path = loc.split("?")[0]
        patch = tus + ["Content-Type: application/offset+octet-stream"]
        self.refused(self.req("PATCH", path, None, b"abc", headers=patch + ["Upload-Offset: 0"],
                              expect=True), 401, "SL_EUNAUTHORIZED")
        self.assertEqual(status_of(self.req("PATCH", loc, None, b"abc",
                                            headers=patch + ["Upload-Offset: 0"])), 204)
        self.assertEqual(status_of(self.req("HEAD", loc, None, headers=tus)), 200)
        # the upload's signature is for that upload only
        other = re.sub(r"/uploads/[0-9a-f]+", "/uploads/" + "0" * 32, loc)
        self.assertEqual(status_of(self.req("HEAD", other, None, headers=tus)), 403)
        self.refused(self.req("DELETE", other, None, headers=tus), 403, "SL_EDENIED")
        self.assertEqual(status_of(self.req("PATCH", loc, None, b"def",
                                            headers=patch + ["Upload-Offset: 3"])), 204)

    def test_sluice_sign_matches_the_scheme(self):
        p = subprocess.run([BIN, "sign", "--key", self.key, "--method", "PUT", "--path",
                            "/files/c.txt", "--expires", "300", "--max-size", "1K", "--base",
                            "http://127.0.0.1:%d" % self.srv.port],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=LIMIT)
        self.assertEqual(p.returncode, 0, p.stderr)
        url = p.stdout.decode().strip()
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        exp = int(q["sl-expires"][0])
        self.assertEqual(q["sl-max"], ["1024"])
        self.assertEqual(q["sl-sig"][0], sign("PUT", "/files/c.txt", exp, 1024))
        self.assertGreater(exp, time.time())
        status, _, _ = curl("-T", self.key, url)
        self.assertEqual(status, 201)
        for bad in (["--method", "PUT"], ["--key", self.key, "--method", "FOO", "--path", "/x",
                                          "--expires", "1"],
                    ["--key", "/nonexistent", "--method", "PUT", "--path", "/x", "--expires", "1"]):
            p = subprocess.run([BIN, "sign"] + bad, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=LIMIT)
            self.assertEqual(p.returncode, 2, bad)
            self.assertEqual(p.stdout, b"")

    def test_sluice_sign_page_link(self):
        """--page MOUNT/: the page's URL carrying a grant signed for POST MOUNT/uploads/ (what the
        upload page passes on to its creations), and nothing else."""
        p = subprocess.run([BIN, "sign", "--key", self.key, "--page", "/", "--expires", "300",
                            "--max-size", "1K", "--base", "http://127.0.0.1:%d" % self.srv.port],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=LIMIT)
        self.assertEqual(p.returncode, 0, p.stderr)
        url = p.stdout.decode().strip()
        parts = urllib.parse.urlsplit(url)
        self.assertEqual(parts.path, "/")
        q = urllib.parse.parse_qs(parts.query)
        exp = int(q["sl-expires"][0])
        self.assertEqual(q["sl-sig"][0], sign("POST", "/uploads/", exp, 1024))
        grant = "/uploads/?" + parts.query
        tus = ["Tus-Resumable: 1.0.0"]
        self.assertEqual(status_of(self.req("POST", grant, None,
                                            headers=tus + ["Upload-Length: 6"])), 201)
        self.refused(self.req("POST", grant, None, headers=tus + ["Upload-Length: 1025"]), 413,
                     "SL_ETOOLARGE")
        self.refused(self.req("PUT", "/files/x?" + parts.query, None, b"1", expect=True), 403,
                     "SL_EDENIED")
        self.refused(self.req("GET", "/files/?" + parts.query, None), 403, "SL_EDENIED")
        for bad in (["--page", "/a", "--expires", "1"],  # not a page's path
                    ["--page", "/", "--method", "PUT", "--expires", "1"]):
            p = subprocess.run([BIN, "sign", "--key", self.key] + bad, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=LIMIT)
            self.assertEqual(p.returncode, 2, bad)
            self.assertEqual(p.stdout, b"")


def local_address():
    """An address of this machine that is not loopback (the source of a route outward), or
    None: a client connecting to it is seen by the server as that address, not as loopback."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent
            ip = u.getsockname()[0]
        return None if ip.startswith("127.") else ip
    except OSError:
        return None


@unittest.skipIf(local_address() is None, "no address other than loopback")
class FromAnotherAddress(AccessTest):
    """The server listens on all addresses and is reached at this machine's own outward
    address, so it sees a client that is not loopback."""
    extra = ("--listen", "0.0.0.0:0")

    def get(self, path, token=None, port=None):
        s = socket.create_connection((local_address(), port or self.srv.port), timeout=LIMIT)
        try:
            s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n"
                      % (path.encode(), b"Authorization: Bearer %s\r\n" % token.encode()
                         if token else b""))
            return read_until_done(s, LIMIT)[0]
        finally:
            s.close()

    def test_metrics_need_a_token_with_the_right(self):
        self.refused(self.get("/metrics"), 401, "SL_EUNAUTHORIZED")
        self.refused(self.get("/metrics", READER), 403, "SL_EDENIED")
        self.assertEqual(status_of(self.get("/metrics", ALL)), 200)
        self.assertEqual(status_of(self.get("/healthz")), 200)
        self.assertEqual(status_of(self.req("GET", "/metrics")), 200)  # loopback still may

    def test_metrics_public(self):
        srv = Server("--listen", "0.0.0.0:0", "--token-file", self.tokens, "--metrics-public")
        srv.start()
        try:
            self.assertEqual(status_of(self.get("/metrics", port=srv.port)), 200)
            self.refused(self.get("/files/", port=srv.port), 401, "SL_EUNAUTHORIZED")
        finally:
            srv.stop()

    def test_per_ip_limit_applies_without_limit_loopback(self):
        srv = Server("--listen", "0.0.0.0:0", "--max-conns-per-ip", "2").start()
        held = []
        try:
            for _ in range(2):
                held.append(socket.create_connection((local_address(), srv.port), timeout=LIMIT))
                held[-1].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assertEqual(status_of(read_until_done(held[-1], LIMIT)[0]), 200)
            extra = socket.create_connection((local_address(), srv.port), timeout=LIMIT)
            try:
                self.assertIn(extra.recv(1), (b"",))
            except ConnectionError:
                pass
            extra.close()
            self.assertIn("no access control", srv.output())  # and the warning at start
        finally:
            for s in held:
                s.close()
            srv.stop()


class StartupWarning(unittest.TestCase):
    def test_warns_without_access_control_off_loopback_only(self):
        d = tempfile.mkdtemp(prefix="sluice-warn-")
        try:
            for listen, warned in (("127.0.0.1:0", False), ("0.0.0.0:0", True)):
                p = subprocess.Popen([BIN, "--listen", listen, "--root", d],
                                     stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
                try:
                    out = b""
                    while b"listening on" not in out:
                        line = p.stderr.readline()
                        self.assertTrue(line, out)
                        out += line
                finally:
                    p.send_signal(signal.SIGTERM)
                    p.communicate(timeout=LIMIT)
                self.assertEqual(b"no access control" in out, warned, out)
        finally:
            subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    unittest.main()
