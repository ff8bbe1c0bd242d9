#!/usr/bin/env python3
"""Integration tests for sluice's HTTP interface (DESIGN.md §6): every endpoint, driven by the
real binary over loopback with http.client, curl and raw sockets.

Run: SLUICE_BIN=build/sluice python3 tests/integration/test_http_api.py -v
"""
import base64
import email.utils
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LIMIT, ServerTest, curl, raw_request, read_response, status_of,  # noqa: E402
                     json_body, wait_until)

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX8 = re.compile(r"^[0-9a-f]{8}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def digests(data):
    return {
        "size": len(data),
        "crc32": "%08x" % (zlib.crc32(data) & 0xFFFFFFFF),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


class ApiTest(ServerTest):
    """Helpers shared by the endpoint tests."""

    def setUp(self):
        super().setUp()
        self.addCleanup(remove_quietly, self.srv.log_path)  # runs after tearDown closed it
        self.tmpdir = tempfile.mkdtemp(prefix="sluice-api-")
        self.addCleanup(shutil.rmtree, self.tmpdir, True)

    def request(self, method, path, body=None, headers=None, conn=None):
        """One request with http.client; returns (status, headers lower-cased, body bytes)."""
        own = conn is None
        c = conn or http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=20)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            if own:
                c.close()

    def put(self, name, data, headers=None):
        return self.request("PUT", "/files/" + name, body=data, headers=headers)

    def assert_created(self, status, headers, body, name, data):
        self.assertEqual(status, 201, body)
        self.assertEqual(headers.get("content-type"), "application/json")
        doc = json.loads(body)
        self.assertEqual(set(doc), {"name", "size", "sha256"}, doc)  # the default --digest set
        self.assertEqual(doc["name"], name)
        want = digests(data)
        self.assertEqual(doc["size"], want["size"])
        self.assertRegex(doc["sha256"], HEX64)
        self.assertEqual(doc["sha256"], want["sha256"])
        self.assertEqual(urllib.parse.unquote(headers.get("location", "")), "/files/" + name)
        self.assertRegex(headers.get("etag", ""), r'^"[^"]+"$')
        with open(os.path.join(self.srv.root, name), "rb") as f:
            self.assertEqual(f.read(), data)
        return doc

    def assert_error(self, status, headers, body, want):
        self.assertEqual(status, want, body)
        self.assertEqual(headers.get("content-type"), "application/json", headers)
        doc = json.loads(body)
        self.assertIsInstance(doc.get("error"), str, doc)
        self.assertTrue(doc["error"])
        self.assertEqual(doc.get("status"), want, doc)
        self.assertIsInstance(doc.get("code"), str, doc)
        self.assertTrue(doc["code"])
        return doc

    def wait_tmp_empty(self):
        wait_until(lambda: not self.srv.tmp_files(),
                   lambda: "the temp files to go: %s" % self.srv.tmp_files())


class HealthAndRouting(ApiTest):
    def test_healthz(self):
        st, h, b = self.request("GET", "/healthz")
        self.assertEqual(st, 200)
        self.assertEqual(h.get("content-type"), "application/json")
        self.assertEqual(json.loads(b), {"status": "ok"})

    def test_healthz_head(self):
        st, h, b = self.request("HEAD", "/healthz")
        self.assertEqual(st, 200)
        self.assertEqual(b, b"")

    def test_unknown_paths_404_json(self):
        # "/" is the upload page (test_ui.py; 404 with --no-ui), its files are under /ui/
        for path in ("/nope", "/filesx", "/files-x/a", "/healthz/x", "/FILES/a", "/metricsz",
                     "/ui/nope.js", "/ui/../files/"):
            with self.subTest(path=path):
                st, h, b = self.request("GET", path)
                self.assert_error(st, h, b, 404)

    def test_unknown_method_405_with_allow(self):
        cases = [
            ("PATCH", "/files/a", {"GET", "HEAD", "PUT", "DELETE"}),
            ("POST", "/files/a", {"GET", "HEAD", "PUT", "DELETE"}),
            ("OPTIONS", "/files/a", {"GET", "HEAD", "PUT", "DELETE"}),
            ("PUT", "/files/", {"GET", "HEAD", "POST"}),
            ("DELETE", "/files/", {"GET", "HEAD", "POST"}),
            ("PUT", "/files", {"GET", "HEAD", "POST"}),
            ("DELETE", "/healthz", {"GET", "HEAD"}),
            ("POST", "/healthz", {"GET", "HEAD"}),
            ("BREW", "/files/a", {"GET", "HEAD", "PUT", "DELETE"}),
        ]
        for method, path, allow in cases:
            with self.subTest(method=method, path=path):
                body = b"x" if method in ("PUT", "POST") else None
                st, h, b = self.request(method, path, body=body)
                self.assert_error(st, h, b, 405)
                got = {m.strip() for m in h.get("allow", "").split(",") if m.strip()}
                self.assertEqual(got, allow, h)
        self.assertEqual(self.srv.final_files(), [])
        self.wait_tmp_empty()


class Put(ApiTest):
    def test_put_content_length(self):
        data = os.urandom(300 * 1024 + 7)
        st, h, b = self.put("hello.bin", data)
        self.assert_created(st, h, b, "hello.bin", data)
        self.assertEqual(h["location"], "/files/hello.bin")
        st2, h2, b2 = self.request("GET", "/files/hello.bin")
        self.assertEqual(st2, 200)
        self.assertEqual(b2, data)
        self.assertEqual(h2.get("etag"), h["etag"])
        self.wait_tmp_empty()

    def test_put_empty(self):
        st, h, b = self.put("empty", b"")
        doc = self.assert_created(st, h, b, "empty", b"")
        self.assertEqual(doc["sha256"], hashlib.sha256(b"").hexdigest())
        st, h, b = self.request("GET", "/files/empty")
        self.assertEqual((st, b), (200, b""))
        self.assertEqual(h.get("content-length"), "0")

    def test_put_nested_and_utf8_name(self):
        name = "dir/sub dir/Grüße €.txt"
        data = b"nested\n" * 1000
        st, h, b = self.put(urllib.parse.quote(name), data)
        self.assert_created(st, h, b, name, data)
        # Location is usable as-is to fetch the file back.
        st, _, b = self.request("GET", h["location"])
        self.assertEqual((st, b), (200, data))

    def test_put_chunked_http_client(self):
        pieces = [os.urandom(n) for n in (1, 1000, 65536, 3, 200000)]
        data = b"".join(pieces)
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=20)
        try:
            c.request("PUT", "/files/chunked", body=iter(pieces), encode_chunked=True,
                      headers={"Transfer-Encoding": "chunked"})
            r = c.getresponse()
            st, h, b = r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()
        self.assert_created(st, h, b, "chunked", data)

    def test_put_curl_T_stdin_chunked(self):
        data = os.urandom(2 * 1024 * 1024 + 11)
        p = subprocess.run(
            ["curl", "-s", "-S", "--max-time", "30", "-T", "-", "-D", "-",
             self.srv.url + "/files/from-stdin"],
            input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=40)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"HTTP/1.1 201", p.stdout)
        doc = json.loads(p.stdout.split(b"\r\n\r\n")[-1])
        self.assertEqual(doc["sha256"], hashlib.sha256(data).hexdigest())
        self.assertEqual(doc["size"], len(data))
        with open(os.path.join(self.srv.root, "from-stdin"), "rb") as f:
            self.assertEqual(f.read(), data)

    def test_put_curl_T_file_appends_name(self):
        path = os.path.join(self.tmpdir, "report.csv")
        data = b"a,b,c\n1,2,3\n" * 5000
        with open(path, "wb") as f:
            f.write(data)
        st, h, b = curl("-T", path, self.srv.url + "/files/")
        self.assert_created(st, h, b, "report.csv", data)

    def test_put_expect_100_continue(self):
        data = os.urandom(4096)
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=5)
        try:
            s.sendall(b"PUT /files/expect HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                      b"Expect: 100-continue\r\n\r\n" % len(data))
            s.settimeout(5)
            first = b""
            while b"\r\n\r\n" not in first:
                chunk = s.recv(4096)
                self.assertTrue(chunk, "closed before 100 Continue")
                first += chunk
            self.assertTrue(first.startswith(b"HTTP/1.1 100"), first)
            s.sendall(data)
            resp = first.partition(b"\r\n\r\n")[2] + read_response(s, 10, read_all=False)
        finally:
            s.close()
        self.assertEqual(status_of(resp), 201, resp)
        doc = json_body(resp)
        self.assertEqual(doc["sha256"], hashlib.sha256(data).hexdigest())

    def test_put_replaces(self):
        st, h1, b = self.put("doc", b"version one")
        self.assertEqual(st, 201)
        st, h2, b = self.put("doc", b"version two, longer")
        self.assert_created(st, h2, b, "doc", b"version two, longer")
        self.assertNotEqual(h1["etag"], h2["etag"])
        st, h, b = self.request("GET", "/files/doc")
        self.assertEqual((st, b), (200, b"version two, longer"))
        self.assertEqual(self.srv.final_files(), ["doc"])
        self.wait_tmp_empty()

    def test_put_replace_is_atomic_for_readers(self):
        """While a slow replacement streams in, readers see the old file entirely; afterwards,
        the new one entirely; never a mix or a prefix."""
        old = b"A" * (256 * 1024)
        new = b"B" * (256 * 1024)
        self.assertEqual(self.put("atomic", old)[0], 201)
        done = threading.Event()
        started = threading.Event()  # the first half of the body is out
        overlapped = threading.Event()  # a GET sent after that saw the old file
        result = {}

        def slow_pieces():  # the second half waits until a read overlapped the upload
            for i in range(16):
                if i == 8:
                    started.set()
                    overlapped.wait(LIMIT)
                yield new[i * 16384:(i + 1) * 16384]

        def upload():
            c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=LIMIT)
            try:
                c.request("PUT", "/files/atomic", body=slow_pieces(), encode_chunked=True,
                          headers={"Transfer-Encoding": "chunked"})
                r = c.getresponse()
                result["status"] = r.status
                result["body"] = r.read()
            finally:
                c.close()
                done.set()

        t = threading.Thread(target=upload)
        t.start()
        seen_old = 0
        while not done.is_set():
            during = started.is_set()
            st, _, b = self.request("GET", "/files/atomic")
            self.assertEqual(st, 200)
            self.assertIn(b, (old, new), "reader saw a partial file (%d bytes)" % len(b))
            if b == old and during:
                seen_old += 1
                overlapped.set()
        t.join(LIMIT)
        self.assertEqual(result.get("status"), 201, result)
        self.assertGreater(seen_old, 0, "no read overlapped the upload")
        st, _, b = self.request("GET", "/files/atomic")
        self.assertEqual(b, new)
        self.wait_tmp_empty()

    def test_if_none_match_star(self):
        self.assertEqual(self.put("keep", b"original")[0], 201)
        st, h, b = self.put("keep", b"intruder", headers={"If-None-Match": "*"})
        self.assert_error(st, h, b, 412)
        st, _, b = self.request("GET", "/files/keep")
        self.assertEqual(b, b"original")
        # On a name that does not exist yet, If-None-Match: * is satisfied.
        st, h, b = self.put("fresh", b"first", headers={"If-None-Match": "*"})
        self.assert_created(st, h, b, "fresh", b"first")
        self.wait_tmp_empty()

    def test_if_none_match_star_chunked(self):
        """A chunked replacement with If-None-Match: * is refused before its body: 412 and no
        100 Continue (the client waits for it, as curl does)."""
        self.assertEqual(self.put("keep2", b"original")[0], 201)
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=5)
        try:
            s.sendall(b"PUT /files/keep2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                      b"If-None-Match: *\r\nExpect: 100-continue\r\n\r\n")
            resp = read_response(s, 5, read_all=False)
        finally:
            s.close()
        self.assertTrue(resp.startswith(b"HTTP/1.1 412"), resp)
        head, _, body = resp.partition(b"\r\n\r\n")
        self.assert_error(412, {"content-type": "application/json"}, body, 412)
        self.assertEqual(self.request("GET", "/files/keep2")[2], b"original")
        # The same with the whole (small) body sent at once, without Expect.
        resp = raw_request(self.srv.port, b"PUT /files/keep2 HTTP/1.1\r\nHost: x\r\n"
                           b"Transfer-Encoding: chunked\r\nIf-None-Match: *\r\n\r\n"
                           b"8\r\nintruder\r\n0\r\n\r\n", timeout=5, read_all=False)
        self.assertEqual(status_of(resp), 412, resp)
        self.assertEqual(self.request("GET", "/files/keep2")[2], b"original")
        self.wait_tmp_empty()


class Post(ApiTest):
    def test_post_random_name(self):
        names = set()
        for i in range(3):
            data = os.urandom(5000 + i)
            st, h, b = self.request("POST", "/files/", body=data,
                                    headers={"Content-Type": "application/octet-stream"})
            self.assertEqual(st, 201, b)
            doc = json.loads(b)
            self.assertRegex(doc["name"], HEX32)
            self.assert_created(st, h, b, doc["name"], data)
            self.assertEqual(h["location"], "/files/" + doc["name"])
            st, _, got = self.request("GET", h["location"])
            self.assertEqual((st, got), (200, data))
            names.add(doc["name"])
        self.assertEqual(len(names), 3)
        self.assertEqual(sorted(self.srv.final_files()), sorted(names))

    def test_post_without_slash(self):
        st, h, b = self.request("POST", "/files", body=b"abc")
        self.assertEqual(st, 201, b)
        self.assertRegex(json.loads(b)["name"], HEX32)

    def test_post_named(self):
        st, h, b = self.request("POST", "/files/?name=named.txt", body=b"one")
        self.assert_created(st, h, b, "named.txt", b"one")
        st, h, b = self.request("POST", "/files/?name=named.txt", body=b"two")
        self.assert_error(st, h, b, 409)
        self.assertEqual(self.request("GET", "/files/named.txt")[2], b"one")
        st, h, b = self.request("POST", "/files/?name=" + urllib.parse.quote("a/b c.txt", safe=""),
                                body=b"nested")
        self.assert_created(st, h, b, "a/b c.txt", b"nested")
        self.wait_tmp_empty()

    def test_post_curl_data_binary(self):
        path = os.path.join(self.tmpdir, "blob")
        data = os.urandom(123457)
        with open(path, "wb") as f:
            f.write(data)
        st, h, b = curl("--data-binary", "@" + path, "-X", "POST", self.srv.url + "/files/")
        self.assertEqual(st, 201, b)
        doc = json.loads(b)
        self.assert_created(st, h, b, doc["name"], data)

    def test_post_chunked(self):
        data = os.urandom(70000)
        p = subprocess.run(
            ["curl", "-s", "-S", "--max-time", "30", "-X", "POST", "-T", "-",
             self.srv.url + "/files/?name=posted"],
            input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=40)
        self.assertEqual(p.returncode, 0, p.stderr)
        doc = json.loads(p.stdout)
        self.assertEqual(doc["name"], "posted")
        self.assertEqual(doc["sha256"], hashlib.sha256(data).hexdigest())


class Get(ApiTest):
    DATA = bytes(range(256)) * 40  # 10240 bytes

    def setUp(self):
        super().setUp()
        st, h, _ = self.put("r.bin", self.DATA)
        self.assertEqual(st, 201)
        self.etag = h["etag"]

    def test_get_full(self):
        st, h, b = self.request("GET", "/files/r.bin")
        self.assertEqual(st, 200)
        self.assertEqual(b, self.DATA)
        self.assertEqual(h.get("content-length"), str(len(self.DATA)))
        self.assertEqual(h.get("etag"), self.etag)
        self.assertEqual(h.get("accept-ranges"), "bytes")
        self.assertNotIn("content-range", h)
        lm = email.utils.parsedate_to_datetime(h["last-modified"]).timestamp()
        mtime = os.stat(os.path.join(self.srv.root, "r.bin")).st_mtime
        self.assertLessEqual(abs(lm - int(mtime)), 1)

    def test_head(self):
        st, h, b = self.request("HEAD", "/files/r.bin")
        self.assertEqual(st, 200)
        self.assertEqual(b, b"")
        self.assertEqual(h.get("content-length"), str(len(self.DATA)))
        self.assertEqual(h.get("etag"), self.etag)
        self.assertIn("last-modified", h)
        # The raw answer to HEAD carries no body bytes at all.
        resp = raw_request(self.srv.port, b"HEAD /files/r.bin HTTP/1.1\r\nHost: x\r\n"
                           b"Connection: close\r\n\r\n", timeout=5)
        self.assertEqual(status_of(resp), 200)
        self.assertEqual(resp.partition(b"\r\n\r\n")[2], b"")

    def test_range(self):
        n = len(self.DATA)
        cases = [
            ("bytes=0-0", 0, 0),
            ("bytes=10-19", 10, 19),
            ("bytes=100-", 100, n - 1),
            ("bytes=-100", n - 100, n - 1),
            ("bytes=-999999", 0, n - 1),
            ("bytes=10000-999999", 10000, n - 1),
            ("bytes=%d-%d" % (n - 1, n - 1), n - 1, n - 1),
        ]
        for rng, a, z in cases:
            with self.subTest(range=rng):
                st, h, b = self.request("GET", "/files/r.bin", headers={"Range": rng})
                self.assertEqual(st, 206, b)
                self.assertEqual(h.get("content-range"), "bytes %d-%d/%d" % (a, z, n))
                self.assertEqual(b, self.DATA[a:z + 1])
                self.assertEqual(h.get("content-length"), str(z - a + 1))

    def test_range_head_is_ignored(self):
        # RFC 9110 §14.2: range handling is defined for GET only; HEAD describes the whole file
        st, h, b = self.request("HEAD", "/files/r.bin", headers={"Range": "bytes=5-9"})
        self.assertEqual(st, 200)
        self.assertEqual(b, b"")
        self.assertNotIn("content-range", h)
        self.assertEqual(h.get("content-length"), str(len(self.DATA)))

    def test_multiple_ranges_give_full_200(self):
        st, h, b = self.request("GET", "/files/r.bin", headers={"Range": "bytes=0-1,5-6"})
        self.assertEqual(st, 200)
        self.assertEqual(b, self.DATA)
        self.assertNotIn("content-range", h)

    def test_unsatisfiable_range_416(self):
        n = len(self.DATA)
        for rng in ("bytes=%d-" % n, "bytes=%d-%d" % (n + 5, n + 10), "bytes=-0"):
            with self.subTest(range=rng):
                st, h, b = self.request("GET", "/files/r.bin", headers={"Range": rng})
                self.assert_error(st, h, b, 416)
                self.assertEqual(h.get("content-range"), "bytes */%d" % n)

    def test_range_on_empty_file_416(self):
        self.assertEqual(self.put("zero", b"")[0], 201)
        st, h, b = self.request("GET", "/files/zero", headers={"Range": "bytes=0-"})
        self.assert_error(st, h, b, 416)
        self.assertEqual(h.get("content-range"), "bytes */0")

    def test_if_none_match_304(self):
        st, h, b = self.request("GET", "/files/r.bin", headers={"If-None-Match": self.etag})
        self.assertEqual(st, 304)
        self.assertEqual(b, b"")
        self.assertEqual(h.get("etag"), self.etag)
        st, h, b = self.request("GET", "/files/r.bin", headers={"If-None-Match": '"other"'})
        self.assertEqual(st, 200)
        self.assertEqual(b, self.DATA)
        st, h, b = self.request("HEAD", "/files/r.bin", headers={"If-None-Match": self.etag})
        self.assertEqual(st, 304)

    def test_etag_changes_on_replace(self):
        st, h, _ = self.put("r.bin", self.DATA[::-1] + b"!")
        self.assertEqual(st, 201)
        self.assertNotEqual(h["etag"], self.etag)
        st, h2, b = self.request("GET", "/files/r.bin", headers={"If-None-Match": self.etag})
        self.assertEqual(st, 200)
        self.assertEqual(h2["etag"], h["etag"])

    def test_get_missing_404(self):
        for path in ("/files/missing", "/files/dir/missing"):
            with self.subTest(path=path):
                st, h, b = self.request("GET", path)
                self.assert_error(st, h, b, 404)
        st, h, b = self.request("HEAD", "/files/missing")
        self.assertEqual(st, 404)
        self.assertEqual(b, b"")

    def test_get_directory_is_not_a_file(self):
        self.assertEqual(self.put("d/inner", b"x")[0], 201)
        st, h, b = self.request("GET", "/files/d")
        self.assertGreaterEqual(st, 400, b)
        self.assertLess(st, 500, b)
        self.assertEqual(json.loads(b)["status"], st)

    def test_curl_download(self):
        out = os.path.join(self.tmpdir, "out")
        p = subprocess.run(["curl", "-s", "-S", "-f", "--max-time", "10", "-o", out,
                            self.srv.url + "/files/r.bin"], stderr=subprocess.PIPE, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), self.DATA)


class ListAndDelete(ApiTest):
    def test_list_empty(self):
        st, h, b = self.request("GET", "/files/")
        self.assertEqual(st, 200)
        self.assertEqual(h.get("content-type"), "application/json")
        self.assertEqual(json.loads(b), {"files": [], "truncated": False})

    def test_list(self):
        files = {"a": b"1", "b/c": b"22", "b/d/e.txt": b"333", "ü ber": b"4444"}
        t0 = int(time.time()) - 2
        for name, data in files.items():
            self.assertEqual(self.put(urllib.parse.quote(name), data)[0], 201)
        # An upload still in progress (its temp file under .sluice/) must not show up.
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        self.addCleanup(s.close)
        s.sendall(b"PUT /files/pending HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                  b"\r\n4\r\nhalf\r\n")
        wait_until(self.srv.tmp_files, "a temp file for the pending upload")
        for path in ("/files/", "/files"):
            with self.subTest(path=path):
                st, h, b = self.request("GET", path)
                self.assertEqual(st, 200)
                doc = json.loads(b)
                self.assertEqual(set(doc), {"files", "truncated"})
                self.assertIs(doc["truncated"], False)
                got = {e["name"]: e for e in doc["files"]}
                self.assertEqual(len(got), len(doc["files"]), "duplicate entries")
                self.assertEqual(set(got), set(files))
                for name, data in files.items():
                    e = got[name]
                    self.assertEqual(set(e), {"name", "size", "mtime"}, e)
                    self.assertEqual(e["size"], len(data))
                    self.assertIsInstance(e["mtime"], (int, float))
                    self.assertGreaterEqual(e["mtime"], t0)
                    self.assertLessEqual(e["mtime"], time.time() + 2)
        s.sendall(b"4\r\ndone\r\n0\r\n\r\n")
        resp = read_response(s, 10, read_all=False)
        self.assertEqual(status_of(resp), 201, resp)
        self.assertEqual(json_body(resp)["size"], 8)
        st, h, b = self.request("GET", "/files/")
        self.assertIn("pending", {e["name"] for e in json.loads(b)["files"]})
        self.wait_tmp_empty()

    def test_list_is_repeatable(self):
        """Listing the same unchanged store twice gives the same entries."""
        for name in ("one", "two", "sub/three"):
            self.assertEqual(self.put(name, b"data")[0], 201)
        listings = []
        for _ in range(3):
            st, h, b = self.request("GET", "/files/")
            self.assertEqual(st, 200)
            listings.append(sorted(e["name"] for e in json.loads(b)["files"]))
        self.assertEqual(listings, [["one", "sub/three", "two"]] * 3)

    def test_delete(self):
        self.assertEqual(self.put("gone/soon", b"bye")[0], 201)
        st, h, b = self.request("DELETE", "/files/gone/soon")
        self.assertEqual(st, 204)
        self.assertEqual(b, b"")
        self.assertFalse(os.path.exists(os.path.join(self.srv.root, "gone", "soon")))
        st, h, b = self.request("GET", "/files/gone/soon")
        self.assert_error(st, h, b, 404)
        st, h, b = self.request("DELETE", "/files/gone/soon")
        self.assert_error(st, h, b, 404)
        st, h, b = self.request("GET", "/files/")
        self.assertEqual(json.loads(b)["files"], [])

    def test_delete_missing_404(self):
        st, h, b = self.request("DELETE", "/files/never-was")
        self.assert_error(st, h, b, 404)


class DigestChoices(ApiTest):
    """--digest sets what every upload gets (default sha-256); Want-Repr-Digest (RFC 9530 §4) adds
    sha-256 or sha-512 for one upload; the 201, its headers and GET agree."""
    server_args = ("--digest", "sha-256,crc32")

    def test_crc32_when_configured(self):
        for data in (b"", b"hello", os.urandom(300 * 1024)):
            with self.subTest(size=len(data)):
                st, h, b = self.put("c.bin", data)
                self.assertEqual(st, 201, b)
                doc = json.loads(b)
                self.assertEqual(set(doc), {"name", "size", "crc32", "sha256"}, doc)
                self.assertEqual(doc["crc32"], digests(data)["crc32"])
                self.assertEqual(doc["sha256"], hashlib.sha256(data).hexdigest())

    def test_want_repr_digest_adds_sha512(self):
        data = os.urandom(200 * 1024)
        st, h, b = self.put("w.bin", data, headers={"Want-Repr-Digest": "sha-512=5, sha-256=1"})
        self.assertEqual(st, 201, b)
        doc = json.loads(b)
        self.assertEqual(doc["sha512"], hashlib.sha512(data).hexdigest())
        want = "sha-256=:%s:, sha-512=:%s:" % (
            base64.b64encode(hashlib.sha256(data).digest()).decode(),
            base64.b64encode(hashlib.sha512(data).digest()).decode())
        self.assertEqual(h.get("repr-digest"), want)
        st, h, b = self.put("w0.bin", data, headers={"Want-Repr-Digest": "sha-512=0"})
        self.assertNotIn("sha512", json.loads(b))  # 0: not acceptable


class NoDigests(ApiTest):
    server_args = ("--digest", "none")

    def test_no_digest_stage(self):
        data = os.urandom(100 * 1024)
        st, h, b = self.put("n.bin", data)
        self.assertEqual(st, 201, b)
        self.assertEqual(json.loads(b), {"name": "n.bin", "size": len(data)})
        self.assertIsNone(h.get("repr-digest"))
        etag = h.get("etag")
        self.assertRegex(etag or "", r'^"[0-9a-f]+-[0-9a-f]+"$')  # size and mtime, as GET answers
        st, h2, body = self.request("GET", "/files/n.bin")
        self.assertEqual((st, body), (200, data))
        self.assertEqual(h2.get("etag"), etag)
        self.assertIsNone(h2.get("repr-digest"))
        # a client may still ask for one upload's digest, or send one to be verified
        st, h, b = self.put("n2.bin", data, headers={"Want-Repr-Digest": "sha-256=1"})
        self.assertEqual(json.loads(b)["sha256"], hashlib.sha256(data).hexdigest())
        bad = "sha-256=:%s:" % base64.b64encode(hashlib.sha256(b"other").digest()).decode()
        st, h, b = self.put("n3.bin", data, headers={"Repr-Digest": bad})
        self.assertEqual(st, 400, b)
        self.assertFalse(os.path.exists(os.path.join(self.srv.root, "n3.bin")))


class ListLimit(ApiTest):
    server_args = ("--list-limit", "2")

    def test_list_truncated(self):
        for i in range(5):
            self.assertEqual(self.put("f%d" % i, b"x" * i)[0], 201)
        st, h, b = self.request("GET", "/files/")
        self.assertEqual(st, 200)
        doc = json.loads(b)
        self.assertIs(doc["truncated"], True)
        self.assertEqual(len(doc["files"]), 2)
        for e in doc["files"]:
            self.assertRegex(e["name"], r"^f[0-4]$")
            self.assertEqual(e["size"], int(e["name"][1:]))


class KeepAlive(ApiTest):
    def test_keep_alive_reuses_connection(self):
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=10)
        try:
            st, h, b = self.request("PUT", "/files/ka", body=b"keep me alive", conn=c)
            self.assertEqual(st, 201)
            sock = c.sock
            self.assertIsNotNone(sock, "server closed the connection after the PUT")
            local = sock.getsockname()
            st, h, b = self.request("GET", "/files/ka", conn=c)
            self.assertEqual((st, b), (200, b"keep me alive"))
            self.assertIs(c.sock, sock, "a new connection was opened")
            st, h, b = self.request("GET", "/healthz", conn=c)
            self.assertEqual(st, 200)
            st, h, b = self.request("GET", "/files/nothing-here", conn=c)
            self.assertEqual(st, 404)
            st, h, b = self.request("DELETE", "/files/ka", conn=c)
            self.assertEqual(st, 204)
            st, h, b = self.request("GET", "/files/", conn=c)
            self.assertEqual(st, 200)
            self.assertIs(c.sock, sock, "a new connection was opened")
            self.assertEqual(c.sock.getsockname(), local)
        finally:
            c.close()

    def test_pipelined_requests_on_raw_socket(self):
        self.assertEqual(self.put("p", b"pipelined")[0], 201)
        req = (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
               b"GET /files/p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        resp = raw_request(self.srv.port, req, timeout=5)
        codes = re.findall(rb"HTTP/1\.1 (\d{3})", resp)
        self.assertEqual(codes, [b"200", b"200"], resp)
        self.assertTrue(resp.endswith(b"pipelined"), resp)


if __name__ == "__main__":
    unittest.main()
