#!/usr/bin/env python3
"""Integration tests for POST /files/ with multipart/form-data (issue 3, item 1), driven by the
real binary over loopback with curl -F, http.client and raw sockets.

What is checked, against README "Forms" and server/proto/form.c:
  - curl -F with 1, 3 and 50 files (0 bytes to a few MiB, random): the 201 JSON
    {"files":[{field,name,size,sha256}],"fields":{}} in request order, every file
    byte-for-byte on disk under <32-hex id>/<name> and through GET; text fields (quotes, unicode,
    control bytes) in "fields";
  - file names: collisions made unique (a.txt, a-2.txt, a-3.txt), hostile names sanitised and kept
    inside the root, filename* (RFC 8187) winning over filename, an empty file input skipped;
  - ?name=DIR, and again → 409 with the first upload intact;
  - limits --max-files, --max-field-size, --max-parts, --max-part-header, --max-size (per file)
    → 413; malformed bodies → 400; multipart/mixed → 415; in every error case nothing is
    committed: no new final files and .sluice/tmp and .sluice/stage empty (polled up to 2 s);
  - a 200 MiB file part with --upload-buffer 64K: the server's VmHWM stays under 64 MiB;
  - a client that disconnects in the middle of a part: nothing committed, stage and tmp emptied;
  - Content-Encoding: gzip over the whole multipart body; boundary spellings (quoted, followed by
    `; charset=utf-8`, `Boundary=`, upper-case type);
  - real Chromium submissions replayed from fixtures/ (see fixtures/README.md).

Run: cd /work/main && SLUICE_BIN=build-unit/sluice python3 tests/integration/test_multipart.py -v
"""
import gzip
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LIMIT, Server, ServerTest, curl, read_response, wait_until  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
KiB = 1 << 10
MiB = 1 << 20
HEX32 = re.compile(r"^[0-9a-f]{32}$")
BOUNDARY = b"----sluiceTestBoundary7MA4YWxkTrZu0gW"
CTYPE = "multipart/form-data; boundary=" + BOUNDARY.decode()


def digests(data):
    return {
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def fpart(name, filename, data, ctype=b"application/octet-stream", extra=b""):
    """A file part. `name` and `filename` are bytes put verbatim between quotes."""
    head = b'Content-Disposition: form-data; name="%s"; filename="%s"\r\n' % (name, filename)
    if ctype is not None:
        head += b"Content-Type: " + ctype + b"\r\n"
    return head + extra, data


def tpart(name, value):
    """A text field part."""
    return b'Content-Disposition: form-data; name="%s"\r\n' % name, value


def rawpart(headers, data):
    """A part with its header lines given whole (each ending in CRLF)."""
    return headers, data


def form(parts, boundary=BOUNDARY, preamble=b"", epilogue=b""):
    out = [preamble]
    for head, data in parts:
        out += [b"--", boundary, b"\r\n", head, b"\r\n", data, b"\r\n"]
    out += [b"--", boundary, b"--\r\n", epilogue]
    return b"".join(out)


def url_of(name):
    return "/files/" + urllib.parse.quote(name, safe="/")


def ordered(body):
    """The 201 JSON's top level as a dict, with "fields" as a list of (name, value) pairs in the
    order the server wrote them (json.loads into a dict would hide the order)."""
    return dict(json.loads(body, object_pairs_hook=list))


class MultipartTest(ServerTest):
    """One server per test (self.srv); helpers for posting forms and checking the store."""

    server_args = ()

    def setUp(self):
        super().setUp()
        self.addCleanup(self._unlink_log, self.srv)
        self.tmpdir = tempfile.mkdtemp(prefix="sluice-mp-")
        self.addCleanup(shutil.rmtree, self.tmpdir, True)

    @staticmethod
    def _unlink_log(srv):
        try:
            os.unlink(srv.log_path)
        except OSError:
            pass

    def server(self, *args):
        """Another server with its own flags, stopped (and checked) at the end of the test."""
        srv = Server(*args).start()

        def stop():
            out = srv.output()
            rc = srv.stop()
            self.assertEqual(rc, 0, "sluice exited %s: %s" % (rc, out))
            self.assertNotIn("AddressSanitizer", out)
            self.assertNotIn("runtime error", out)
        self.addCleanup(stop)
        return srv

    # -- requests --------------------------------------------------------------------------

    def post(self, body, ctype=CTYPE, query="", headers=None, srv=None):
        """POST /files/<query> with http.client; (status, headers, body bytes). A server that
        answers early and closes (413 before the body) is read as such."""
        srv = srv or self.srv
        hdrs = {"Content-Type": ctype}
        hdrs.update(headers or {})
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        try:
            try:
                c.request("POST", "/files/" + query, body=body, headers=hdrs)
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused before the body; the answer is already in the socket
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def post_raw(self, body, ctype=CTYPE, query="", extra_headers=b"", srv=None, chunked=False):
        """POST over a raw socket (for bodies http.client would not send as they are)."""
        srv = srv or self.srv
        head = (b"POST /files/" + query.encode() + b" HTTP/1.1\r\nHost: sluice\r\n"
                b"Content-Type: " + ctype.encode("latin-1") + b"\r\n" + extra_headers)
        if chunked:
            msg = head + b"Transfer-Encoding: chunked\r\n\r\n"
            for i in range(0, len(body), 65536):
                piece = body[i:i + 65536]
                msg += b"%x\r\n" % len(piece) + piece + b"\r\n"
            msg += b"0\r\n\r\n"
        else:
            msg = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
        try:
            try:
                s.sendall(msg)
            except (BrokenPipeError, ConnectionResetError):
                pass
            resp = read_response(s, timeout=30, read_all=False)
        finally:
            s.close()
        head, _, rbody = resp.partition(b"\r\n\r\n")
        m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
        self.assertIsNotNone(m, "no HTTP response: %r" % resp[:200])
        return int(m.group(1)), rbody

    def get(self, name, conn=None, srv=None):
        srv = srv or self.srv
        c = conn or http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        c.request("GET", url_of(name))
        r = c.getresponse()
        body = r.read()
        if conn is None:
            c.close()
        return r.status, body

    # -- checks ----------------------------------------------------------------------------

    def stage_entries(self, srv=None):
        d = os.path.join((srv or self.srv).root, ".sluice", "stage")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def final_entries(self, srv=None):
        """Every path under the root outside .sluice, directories included."""
        root = (srv or self.srv).root
        out = []
        for dp, dn, fn in os.walk(root):
            rel = os.path.relpath(dp, root)
            if rel == ".sluice" or rel.startswith(".sluice" + os.sep):
                dn[:] = []
                continue
            for n in dn + fn:
                if rel == "." and n == ".sluice":
                    continue
                out.append(os.path.normpath(os.path.join(rel, n)))
        return sorted(out)

    def assert_nothing_committed(self, before, srv=None, what=""):
        """No new final file or directory, .sluice/tmp and .sluice/stage empty (waited for)."""
        srv = srv or self.srv
        state = []

        def clean():
            state[:] = [self.final_entries(srv), srv.tmp_files(), self.stage_entries(srv)]
            return state == [before, [], []]
        wait_until(clean, lambda: "%s: the leftovers to go: final %s (before %s), tmp %s, stage %s"
                   % (what, state[0], before, state[1], state[2]))

    def check_files(self, j, expected, srv=None, query_dir=None):
        """`j`: the parsed 201 JSON; `expected`: [(field, data, name or None)] in request order.
        Checks the JSON against the data, every file on disk and through GET; returns the
        directory (id) the files went to."""
        srv = srv or self.srv
        self.assertEqual(len(j["files"]), len(expected), j)
        dirs = set()
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        try:
            for entry, (field, data, name) in zip(j["files"], expected):
                self.assertEqual(set(entry), {"field", "name", "size", "sha256"}, entry)
                self.assertEqual(entry["field"], field)
                want = digests(data)
                for k in ("size", "sha256"):
                    self.assertEqual(entry[k], want[k], "%s of %s" % (k, entry["name"]))
                d, _, base = entry["name"].rpartition("/")
                dirs.add(d)
                if name is not None:
                    self.assertEqual(base, name)
                path = os.path.join(srv.root, entry["name"])
                with open(path, "rb") as f:
                    self.assertTrue(f.read() == data, "bytes on disk differ: %s" % entry["name"])
                status, body = self.get(entry["name"], conn=conn, srv=srv)
                self.assertEqual(status, 200, entry["name"])
                self.assertTrue(body == data, "bytes from GET differ: %s" % entry["name"])
        finally:
            conn.close()
        if expected:
            self.assertEqual(len(dirs), 1, "files of one request in several directories: %s" % dirs)
            d = dirs.pop()
            if query_dir is None:
                self.assertRegex(d, HEX32)
            else:
                self.assertEqual(d, query_dir)
            on_disk = sorted(os.listdir(os.path.join(srv.root, d)))
            self.assertEqual(on_disk, sorted(e["name"].rpartition("/")[2] for e in j["files"]))
            self.assertEqual(self.stage_entries(srv), [])
            self.assertEqual(srv.tmp_files(), [])
            return d
        return None

    def write_tmp(self, name, data):
        path = os.path.join(self.tmpdir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def wait_for_stage_file(self, srv=None):
        """True once a staging directory with at least one file in it exists (fails after
        LIMIT)."""
        srv = srv or self.srv
        d = os.path.join(srv.root, ".sluice", "stage")

        def staged():
            for e in self.stage_entries(srv):
                try:
                    if os.listdir(os.path.join(d, e)):
                        return True
                except OSError:
                    pass
            return False
        return wait_until(staged, "a file in a staging directory")


# ------------------------------------------------------------------------------------------------

class CurlForms(MultipartTest):
    """curl -F, the way users upload from a shell."""

    def run_curl(self, *args, query=""):
        status, headers, body = curl(*args, self.srv.url + "/files/" + query)
        self.assertEqual(status, 201, body)
        self.assertIn("application/json", headers.get("content-type", ""))
        return json.loads(body), ordered(body)

    def test_one_file_and_a_field(self):
        data = random.Random(1).randbytes(3 * MiB + 17)
        p = self.write_tmp("big.bin", data)
        j, o = self.run_curl("-F", "file=@" + p, "-F", "a=1")
        self.check_files(j, [("file", data, "big.bin")])
        self.assertEqual(j["fields"], {"a": "1"})

    def test_three_files_with_text_fields_in_order(self):
        rnd = random.Random(3)
        datas = [b"", rnd.randbytes(1), rnd.randbytes(2 * MiB + 3)]
        paths = [self.write_tmp(n, d) for n, d in zip(("empty.txt", "one.bin", "two.bin"), datas)]
        tricky = 'say "hi" \\ back\\slash; type=x, é 東京 ☃ \U0001F600'
        j, o = self.run_curl(
            "-F", "a=1",
            "-F", "f1=@" + paths[0],
            "-F", "u=héllo wörld €",
            "-F", "f2=@" + paths[1] + ";type=application/x-thing",
            "--form-string", "q=" + tricky,
            "-F", "f3=@" + paths[2],
            "--form-string", "ctl=tab\there\r\nnew line\x01",
        )
        self.check_files(j, [("f1", datas[0], "empty.txt"), ("f2", datas[1], "one.bin"),
                             ("f3", datas[2], "two.bin")])
        self.assertEqual(o["fields"], [("a", "1"), ("u", "héllo wörld €"), ("q", tricky),
                                       ("ctl", "tab\there\r\nnew line\x01")])

    def test_fifty_files(self):
        rnd = random.Random(50)
        sizes = [0, 1, 2, 3, 511, 4095, 4096, 4097, 65535, 65536, 65537, 1 * MiB, 3 * MiB + 1,
                 2 * MiB - 1]
        sizes += [rnd.randrange(0, 256 * KiB) for _ in range(50 - len(sizes))]
        args, expected = [], []
        for i, size in enumerate(sizes):
            data = rnd.randbytes(size)
            name = "f%02d-%d.bin" % (i, size)
            args += ["-F", "file%d=@%s" % (i, self.write_tmp(name, data))]
            expected.append(("file%d" % i, data, name))
        args += ["-F", "count=50"]
        t0 = time.time()
        j, o = self.run_curl(*args)
        print("\n  50 files, %.1f MiB: 201 in %.2fs" % (sum(sizes) / MiB, time.time() - t0),
              file=sys.stderr)
        self.check_files(j, expected)
        self.assertEqual(j["fields"], {"count": "50"})

    def test_same_file_name_in_one_request_made_unique(self):
        a, b, c, d, e = (bytes([i]) * (100 + i) for i in range(5))
        pa, pb, pc = (self.write_tmp("x%d" % i, v) for i, v in enumerate((a, b, c)))
        pd, pe = self.write_tmp("y0", d), self.write_tmp("y1", e)
        j, o = self.run_curl("-F", "one=@%s;filename=a.txt" % pa,
                             "-F", "two=@%s;filename=a.txt" % pb,
                             "-F", "three=@%s;filename=sub/a.txt" % pc,
                             "-F", "four=@%s;filename=README" % pd,
                             "-F", "five=@%s;filename=README" % pe)
        self.check_files(j, [("one", a, "a.txt"), ("two", b, "a-2.txt"), ("three", c, "a-3.txt"),
                             ("four", d, "README"), ("five", e, "README-2")])

    def test_name_query_then_again_is_409_and_first_intact(self):
        first = random.Random(7).randbytes(300 * KiB)
        p1 = self.write_tmp("first.bin", first)
        j, o = self.run_curl("-F", "f=@" + p1, "-F", "n=1", query="?name=batch-7")
        self.check_files(j, [("f", first, "first.bin")], query_dir="batch-7")
        j, o = self.run_curl("-F", "f=@" + p1, query="?name=deep/er/dir")
        self.check_files(j, [("f", first, "first.bin")], query_dir="deep/er/dir")
        before = self.final_entries()
        second = random.Random(8).randbytes(2 * MiB)
        p2 = self.write_tmp("first.bin.2", second)
        status, headers, body = curl("-F", "f=@%s;filename=first.bin" % p2,
                                     "-F", "g=@%s;filename=other.bin" % p2,
                                     self.srv.url + "/files/?name=batch-7")
        self.assertEqual(status, 409, body)
        self.assertEqual(json.loads(body)["status"], 409)
        self.assert_nothing_committed(before, what="409")
        with open(os.path.join(self.srv.root, "batch-7", "first.bin"), "rb") as f:
            self.assertTrue(f.read() == first, "the first upload was changed")
        self.assertEqual(self.get("batch-7/first.bin"), (200, first))


    def test_name_query_refused_without_trace(self):
        status, _, body = curl("-T", self.write_tmp("plain", b"plain file"),
                               self.srv.url + "/files/plainfile")
        self.assertEqual(status, 201, body)
        p = self.write_tmp("x.bin", os.urandom(2 * MiB))
        for query, code in (("?name=plainfile", 409),         # a file, not a directory
                            ("?name=plainfile/sub", 409),     # below a file
                            ("?name=../escape", 400), ("?name=.sluice/stage", 400),
                            ("?name=a//b", 400), ("?name=%2e%2e", 400)):
            before = self.final_entries()
            status, _, body = curl("-F", "f=@" + p, "-F", "t=1", self.srv.url + "/files/" + query)
            self.assertEqual(status, code, (query, body))
            self.assert_nothing_committed(before, what=query)
        self.assertEqual(self.get("plainfile"), (200, b"plain file"))


# ------------------------------------------------------------------------------------------------

class FileNames(MultipartTest):
    """Hostile and unusual file names (raw bodies: curl would escape them)."""

    def upload(self, parts, query=""):
        status, _, body = self.post(form(parts), query=query)
        self.assertEqual(status, 201, body)
        return json.loads(body)

    def test_hostile_names_sanitised_inside_root(self):
        cases = [  # (filename as sent, expected stored name)
            (b"../../etc/passwd", "passwd"),
            (b"/abs/path/to/x.sh", "x.sh"),
            (b".", "file"),
            (b"..", "file-2"),
            (b"a/b/..", "file-3"),
            (b"trailing/", "file-4"),
            (b"A" * 300 + b".txt", "A" * 200),
            (b"\xc3\xa9" * 150, "é" * 100),             # cut at 200 bytes, on a character
            (b"\xe6\x9d\xb1\xe4\xba\xac.txt", "東京.txt"),  # raw UTF-8 as browsers send it
            (b".sluice", None),                         # must not reach ROOT/.sluice
            (b"tab\there.txt", "tabhere.txt"),          # HTAB is legal in a header: dropped
        ]
        parts = [fpart(b"f%d" % i, fn, b"content %d" % i) for i, (fn, _) in enumerate(cases)]
        j = self.upload(parts)
        expected = [("f%d" % i, b"content %d" % i, name) for i, (_, name) in enumerate(cases)]
        self.check_files(j, expected)
        self.assert_inside(j)

    def test_invalid_utf8_name_becomes_valid(self):
        j = self.upload([fpart(b"f", b"bad\xff\xfe.txt", b"x"),
                         fpart(b"g", b"\xff\xfe", b"y"),
                         fpart(b"h", b"ok-\xc3(.bin", b"z")])
        self.check_files(j, [("f", b"x", None), ("g", b"y", None), ("h", b"z", None)])
        for e in j["files"]:
            base = e["name"].rpartition("/")[2]
            base.encode("utf-8")  # json.loads already proved it decodes
            self.assertTrue(base and "\ufffd" not in base and "/" not in base, base)
        self.assertTrue(j["files"][0]["name"].rpartition("/")[2].startswith("bad"))
        self.assertTrue(j["files"][2]["name"].rpartition("/")[2].startswith("ok-"))
        self.assert_inside(j)

    def test_windows_path_in_quoted_filename_is_stripped(self):
        # Old IE/Edge send the full client path with raw backslashes, and browsers never escape a
        # backslash in a quoted filename (HTML's form encoding escapes only CR, LF and "), so
        # the backslash is a path separator here, not a quoted-pair escape.
        # README: "path stripped"; form.c: "the path stripped (both separators)".
        j = self.upload([fpart(b"f", b"C:\\x\\y.txt", b"win"),
                         fpart(b"g", b"..\\..\\windows\\win.ini", b"ini")])
        self.assert_inside(j)  # safe in any case
        self.check_files(j, [("f", b"win", "y.txt"), ("g", b"ini", "win.ini")])

    def test_filename_star_rfc8187(self):
        j = self.upload([
            rawpart(b"Content-Disposition: form-data; name=\"e\"; filename=\"fallback.txt\"; "
                    b"filename*=UTF-8''%E2%82%AC.txt\r\n", b"euro"),
            rawpart(b"Content-Disposition: form-data; name=\"r\"; "
                    b"filename*=UTF-8''a%0D%0Ab.txt\r\n", b"crlf"),
            rawpart(b"Content-Disposition: form-data; name=\"c\"; "
                    b"filename*=utf-8'en'c%01d%7Fe%1F.txt\r\n", b"ctl"),
            rawpart(b"Content-Disposition: form-data; name=\"p\"; "
                    b"filename*=UTF-8''..%2F..%2Fetc%2Fshadow\r\n", b"slash"),
            rawpart(b"Content-Disposition: form-data; name=\"w\"; "
                    b"filename*=UTF-8''C%3A%5Cx%5Cz.txt\r\n", b"bs"),
            rawpart(b"Content-Disposition: form-data; name=\"l\"; "
                    b"filename*=iso-8859-1''caf%E9.txt\r\n", b"latin1"),
        ])
        self.check_files(j, [("e", b"euro", "€.txt"), ("r", b"crlf", "ab.txt"),
                             ("c", b"ctl", "cde.txt"), ("p", b"slash", "shadow"),
                             ("w", b"bs", "z.txt"), ("l", b"latin1", "café.txt")])
        self.assert_inside(j)

    def test_empty_file_input_skipped_and_missing_part_content_type(self):
        before = self.final_entries()
        j = self.upload([tpart(b"t", b"v"), fpart(b"empty", b"", b""),
                         fpart(b"f", b"noct.bin", b"no content-type", ctype=None)])
        self.check_files(j, [("f", b"no content-type", "noct.bin")])
        self.assertEqual(j["fields"], {"t": "v"})
        # only text fields and an empty file input: 201, nothing stored
        j = self.upload([tpart(b"only", b"text"), fpart(b"file", b"", b"")])
        self.assertEqual(j, {"files": [], "fields": {"only": "text"}})
        self.assertEqual(len(self.final_entries()), len(before) + 2)  # <id>/ and <id>/noct.bin

    def test_raw_control_bytes_or_crlf_in_header_are_400(self):
        # A raw CR LF cannot be inside a quoted header value (browsers send %0D%0A), and the
        # parser refuses control bytes in part headers: malformed, 400, nothing committed.
        big = random.Random(5).randbytes(MiB)
        for fn in (b"a\r\nb", b"c\x01d.txt", b"e\x7f.txt", b"n\x00ul"):
            before = self.final_entries()
            status, _, body = self.post(form([fpart(b"big", b"big.bin", big),
                                              fpart(b"f", fn, b"x")]))
            self.assertEqual(status, 400, (fn, body))
            self.assert_nothing_committed(before, what=repr(fn))

    def assert_inside(self, j):
        root = os.path.realpath(self.srv.root)
        for e in j["files"]:
            path = os.path.realpath(os.path.join(self.srv.root, e["name"]))
            self.assertTrue(path.startswith(root + os.sep), path)
            self.assertFalse(e["name"].startswith(".sluice"), e["name"])
            self.assertEqual(e["name"].count("/"), 1, e["name"])
            base = e["name"].rpartition("/")[2]
            self.assertLessEqual(len(base.encode()), 200)
            self.assertFalse(any(ord(ch) < 0x20 or ord(ch) == 0x7f for ch in base), base)
            self.assertNotIn("\\", base)
        # nothing was written anywhere but under the request's directory
        tops = {p.split(os.sep)[0] for p in self.final_entries()}
        dirs = {e["name"].split("/")[0] for e in j["files"]}
        self.assertTrue(tops <= dirs, (tops, dirs))
        self.assertFalse(os.path.exists(os.path.join(self.srv.root, "etc")))


# ------------------------------------------------------------------------------------------------

class Fields(MultipartTest):
    """Text fields come back in "fields", as valid JSON, up to --max-field-size."""

    def test_field_names_and_values_escaped(self):
        parts = [tpart(b'na\\"me', b"quote in the name"),       # quoted-pair: na"me
                 tpart(b"na\\\\me", b"backslash in the name"),  # na\me
                 tpart("naïve 東京".encode(), "värde ☃".encode()),
                 tpart(b"ctl", b"a\x01b\x1fc\td\r\ne"),
                 tpart(b"", b"empty name"),
                 fpart("fïle".encode(), b"f.bin", b"data")]
        status, _, body = self.post(form(parts))
        self.assertEqual(status, 201, body)
        o = ordered(body)
        self.assertEqual(o["fields"], [('na"me', "quote in the name"),
                                       ("na\\me", "backslash in the name"),
                                       ("naïve 東京", "värde ☃"), ("ctl", "a\x01b\x1fc\td\r\ne"),
                                       ("", "empty name")])
        self.check_files(json.loads(body), [("fïle", b"data", "f.bin")])

    def test_non_utf8_text_still_valid_json(self):
        # A form from a page in another charset sends its fields in that charset. Whatever the
        # server makes of them (replacement characters, or a 400), its answer must be JSON,
        # which is UTF-8 (RFC 8259 §8.1).
        for what, parts in (("value", [tpart(b"a", b"\xff\xfe ok")]),
                            ("field name", [tpart(b"\xe9t\xe9", b"v")]),
                            ("file field name", [fpart(b"\xff\xc3", b"x.bin", b"1")])):
            with self.subTest(what):
                before = self.final_entries()
                status, _, body = self.post(form(parts + [fpart(b"f", b"f.bin", b"file")]))
                try:
                    j = json.loads(body.decode("utf-8"))
                except (UnicodeDecodeError, ValueError) as e:
                    self.fail("%s not UTF-8: answer %d is not JSON (%s): %r"
                              % (what, status, e, body))
                if status == 201:
                    self.assertEqual(j["files"][-1]["size"], 4)
                    if what == "value":
                        self.assertTrue(j["fields"]["a"].endswith(" ok"), j)
                else:
                    self.assertEqual(status, 400, body)
                    self.assert_nothing_committed(before, what=what)

    def test_field_within_default_max_field_size(self):
        # --max-field-size defaults to 1M: a 300 KiB field, and fields of 200 + 200 KiB, are
        # within it and come back whole.
        v = ("0123456789abcdef" * (300 * KiB // 16)).encode()
        status, _, body = self.post(form([tpart(b"big", v), fpart(b"f", b"f.bin", b"x")]))
        self.assertEqual(status, 201, body)
        self.assertEqual(json.loads(body)["fields"], {"big": v.decode()})
        w = b"w" * (200 * KiB)
        status, _, body = self.post(form([tpart(b"one", w), tpart(b"two", w)]))
        self.assertEqual(status, 201, body)
        self.assertEqual(json.loads(body)["fields"], {"one": w.decode(), "two": w.decode()})


class AllOrNothing(MultipartTest):
    """Racing requests for one ?name=, and a crash in the middle of a form."""

    def test_two_requests_race_for_one_name(self):
        rnd = random.Random(81)
        bodies = [[rnd.randbytes(3 * MiB), rnd.randbytes(2 * MiB)] for _ in range(2)]
        results = [None, None]
        barrier = threading.Barrier(2)

        def run(i):
            b = form([fpart(b"a", b"a.bin", bodies[i][0]), tpart(b"who", b"%d" % i),
                      fpart(b"b", b"b.bin", bodies[i][1])])
            barrier.wait()
            results[i] = self.post(b, query="?name=race")

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        statuses = sorted(r[0] for r in results)
        self.assertEqual(statuses, [201, 409], [r[2] for r in results])
        win = 0 if results[0][0] == 201 else 1
        j = json.loads(results[win][2])
        self.assertEqual(j["fields"], {"who": str(win)})
        self.check_files(j, [("a", bodies[win][0], "a.bin"), ("b", bodies[win][1], "b.bin")],
                         query_dir="race")
        self.assert_nothing_committed(["race", "race/a.bin", "race/b.bin"], what="race loser")

    def test_crash_mid_form_then_restart_sweeps_stage(self):
        root = os.path.join(self.tmpdir, "root")
        os.mkdir(root)
        srv = Server(root=root).start()
        try:
            body = form([fpart(b"a", b"a.bin", random.Random(82).randbytes(MiB)),
                         fpart(b"b", b"b.bin", random.Random(83).randbytes(4 * MiB))])
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            s.sendall(b"POST /files/ HTTP/1.1\r\nHost: sluice\r\nContent-Type: " + CTYPE.encode()
                      + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:3 * MiB])
            self.assertTrue(self.wait_for_stage_file(srv), "no staging directory")
            srv.send(9)
            srv.wait(10)
            s.close()
            self.assertNotEqual(self.stage_entries(srv), [], "the crash left no stage to sweep")
        finally:
            srv.stop()
        srv2 = Server(root=root).start()  # the same root: its start-up sweep cleans up
        try:
            self.assert_nothing_committed([], srv=srv2, what="after the restart")
        finally:
            out = srv2.output()
            self.assertEqual(srv2.stop(), 0, out)


# ------------------------------------------------------------------------------------------------

class Limits(MultipartTest):
    """Busboy-style limits → 413, and nothing of the request committed."""

    server_args = ("--max-files", "2", "--max-field-size", "100", "--max-parts", "6",
                   "--max-part-header", "1024")

    def refused(self, parts, code=413, what="", **kw):
        before = self.final_entries()
        status, _, body = self.post(form(parts), **kw)
        self.assertEqual(status, code, "%s: %r" % (what, body))
        self.assertEqual(json.loads(body)["status"], code)
        self.assert_nothing_committed(before, what=what)

    def test_max_files(self):
        big = random.Random(11).randbytes(2 * MiB)
        self.refused([fpart(b"a", b"a.bin", big), fpart(b"b", b"b.bin", big),
                      fpart(b"c", b"c.bin", b"third")], what="3 files, --max-files 2")
        # an empty file input is not a file; two files and fields are fine
        status, _, body = self.post(form([fpart(b"a", b"a.bin", big), fpart(b"e", b"", b""),
                                           tpart(b"t", b"1"), fpart(b"b", b"b.bin", b"2")]))
        self.assertEqual(status, 201, body)
        self.check_files(json.loads(body), [("a", big, "a.bin"), ("b", b"2", "b.bin")])

    def test_max_files_via_curl(self):
        paths = [self.write_tmp("c%d.bin" % i, os.urandom(512 * KiB)) for i in range(3)]
        before = self.final_entries()
        status, _, body = curl(*sum((["-F", "f%d=@%s" % (i, p)] for i, p in enumerate(paths)), []),
                               self.srv.url + "/files/")
        self.assertEqual(status, 413, body)
        self.assert_nothing_committed(before, what="curl, 3 files")

    def test_max_field_size(self):
        big = random.Random(12).randbytes(MiB)
        self.refused([fpart(b"a", b"a.bin", big), tpart(b"t", b"x" * 101)],
                     what="101-byte field, --max-field-size 100")
        status, _, body = self.post(form([fpart(b"a", b"a.bin", big), tpart(b"t", b"x" * 100)]))
        self.assertEqual(status, 201, body)
        self.assertEqual(json.loads(body)["fields"], {"t": "x" * 100})

    def test_max_parts(self):
        big = random.Random(13).randbytes(MiB)
        six = [fpart(b"a", b"a.bin", big), fpart(b"b", b"b.bin", b"b")] + \
            [tpart(b"t%d" % i, b"v") for i in range(4)]
        status, _, body = self.post(form(six))
        self.assertEqual(status, 201, body)
        self.refused(six + [tpart(b"seventh", b"v")], what="7 parts, --max-parts 6")
        self.refused([tpart(b"t%d" % i, b"v") for i in range(7)], what="7 fields")

    def test_max_part_header(self):
        big = random.Random(14).randbytes(MiB)
        ok = fpart(b"p", b"p.bin", b"padded", extra=b"X-Pad: " + b"p" * 800 + b"\r\n")
        status, _, body = self.post(form([fpart(b"a", b"a.bin", big), ok]))
        self.assertEqual(status, 201, body)
        long_header = fpart(b"p", b"p.bin", b"padded", extra=b"X-Pad: " + b"p" * 1100 + b"\r\n")
        self.refused([fpart(b"a", b"a.bin", big), long_header], what="1.1 KiB part header")
        long_name = fpart(b"p", b"n" * 1500 + b".bin", b"x")
        self.refused([fpart(b"a", b"a.bin", big), long_name], what="1.5 KiB file name")

    def test_limit_crossed_with_name_query(self):
        big = random.Random(15).randbytes(MiB)
        self.refused([fpart(b"a", b"a.bin", big), fpart(b"b", b"b.bin", big),
                      fpart(b"c", b"c.bin", big)], query="?name=never", what="?name=, 3 files")
        self.assertFalse(os.path.exists(os.path.join(self.srv.root, "never")))
        status, _, body = self.post(form([fpart(b"a", b"a.bin", big)]), query="?name=never")
        self.assertEqual(status, 201, body)


class DigestNone(MultipartTest):
    """--digest none and no --max-size: a file part's chain is then its limit (no limit) and its
    sink; the server aborted on the first form before that head was always built."""

    server_args = ("--digest", "none")

    def test_form_with_two_files_201_without_digests(self):
        datas = [b"first file", random.Random(31).randbytes(300 * KiB)]
        status, _, body = self.post(form([fpart(b"a", b"a.txt", datas[0]),
                                          fpart(b"b", b"b.bin", datas[1])]))
        self.assertEqual(status, 201, body)
        doc = json.loads(body)
        self.assertEqual([f["size"] for f in doc["files"]], [len(d) for d in datas], doc)
        self.assertTrue(all("sha256" not in f for f in doc["files"]), doc)
        for f, d in zip(doc["files"], datas):
            with open(os.path.join(self.srv.root, f["name"]), "rb") as fh:
                self.assertEqual(fh.read(), d)


class MaxSizePerFile(MultipartTest):
    """--max-size applies to each file part (README, Forms: "--max-size per file")."""

    server_args = ("--max-size", "1M")

    def test_one_file_over_max_size_413(self):
        small = b"small"
        over = random.Random(21).randbytes(MiB + 1)
        for chunked in (False, True):
            before = self.final_entries()
            status, body = self.post_raw(form([fpart(b"s", b"s.txt", small),
                                               fpart(b"o", b"o.bin", over)]), chunked=chunked)
            self.assertEqual(status, 413, (chunked, body))
            self.assert_nothing_committed(before, what="1 MiB + 1, chunked=%s" % chunked)

    def test_concurrent_files_over_max_size_all_413(self):
        # Several at once, as curl sends them (no Expect): each got 500 SL_EDESTROYED when the
        # multipart parser's write into the part's destroyed chain (SL_EDESTROYED) closed the
        # form before the part's own SL_ETOOLARGE arrived (stream rule D2 now gives the cause).
        path = os.path.join(self.tmpdir, "over.bin")
        with open(path, "wb") as f:
            f.write(random.Random(23).randbytes(3 * MiB))
        before = self.final_entries()
        results = [None] * 6

        def one(i):
            results[i] = curl("-H", "Expect:", "-F", "f=@" + path, self.srv.url + "/files/")

        threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for st, _, body in results:
            self.assertEqual(st, 413, body)
            self.assertEqual(json.loads(body)["code"], "SL_ETOOLARGE", body)
        self.assert_nothing_committed(before, what="6 concurrent forms over --max-size")

    def test_chunked_files_each_under_max_size_201(self):
        datas = [random.Random(22 + i).randbytes(MiB if i == 0 else 700 * KiB) for i in range(3)]
        status, body = self.post_raw(form([fpart(b"f%d" % i, b"f%d" % i, d)
                                           for i, d in enumerate(datas)]), chunked=True)
        self.assertEqual(status, 201, body)
        self.check_files(json.loads(body), [("f%d" % i, d, "f%d" % i) for i, d in enumerate(datas)])

    def test_content_length_files_each_under_max_size_201(self):
        # The body (2.4 MiB with Content-Length) is larger than --max-size, every file is not.
        datas = [random.Random(25 + i).randbytes(800 * KiB) for i in range(3)]
        status, _, body = self.post(form([fpart(b"f%d" % i, b"f%d" % i, d)
                                          for i, d in enumerate(datas)]))
        self.assertEqual(status, 201, body)
        self.check_files(json.loads(body), [("f%d" % i, d, "f%d" % i) for i, d in enumerate(datas)])

    def test_content_length_file_of_exactly_max_size_201(self):
        data = random.Random(28).randbytes(MiB)
        status, _, body = self.post(form([fpart(b"f", b"exact.bin", data)]))
        self.assertEqual(status, 201, body)
        self.check_files(json.loads(body), [("f", data, "exact.bin")])


# ------------------------------------------------------------------------------------------------

class Malformed(MultipartTest):
    """Bodies that are not multipart/form-data as declared → 400 (415 for other multipart
    types), nothing committed."""

    def setUp(self):
        super().setUp()
        self.big = random.Random(31).randbytes(2 * MiB)
        self.good = form([fpart(b"a", b"a.bin", self.big), tpart(b"t", b"v"),
                          fpart(b"b", b"b.bin", b"second")])

    def refused(self, body, ctype=CTYPE, code=400, what="", chunked=False):
        before = self.final_entries()
        status, rbody = self.post_raw(body, ctype=ctype, chunked=chunked)
        self.assertEqual(status, code, "%s: %r" % (what, rbody))
        self.assert_nothing_committed(before, what=what)

    def test_truncated(self):
        cut = len(self.good) - 200
        self.refused(self.good[:cut], what="truncated in the last part")
        self.refused(self.good[:-len(b"--\r\n")], what="no final boundary")
        self.refused(self.good[:-len(b"--\r\n")] + b"\r\n", what="ends with a delimiter, not final")
        self.refused(self.good[:len(self.big) // 2], what="truncated in the first part",
                     chunked=True)

    def test_wrong_boundary(self):
        self.refused(self.good, ctype="multipart/form-data; boundary=somethingElse",
                     what="wrong boundary")
        self.refused(self.good, ctype=CTYPE + "x", what="boundary longer than the body's")
        self.refused(self.good, ctype=CTYPE[:-1], what="boundary shorter than the body's")

    def test_no_boundary_parameter(self):
        self.refused(self.good, ctype="multipart/form-data", what="no boundary")
        self.refused(self.good, ctype="multipart/form-data; boundary=", what="empty boundary")
        self.refused(self.good, ctype="multipart/form-data; boundary=" + "b" * 71,
                     what="71-character boundary")

    def test_bare_lf(self):
        self.refused(self.good.replace(b"\r\n", b"\n"), what="bare LF everywhere")
        body = form([fpart(b"a", b"a.bin", self.big)]).replace(
            b"Content-Type: application/octet-stream\r\n", b"Content-Type: x/y\n", 1)
        self.refused(body, what="one bare LF in a part header")

    def test_part_without_disposition_or_empty_body(self):
        self.refused(form([fpart(b"a", b"a.bin", self.big),
                           rawpart(b"Content-Type: text/plain\r\n", b"orphan")]),
                     what="a part without Content-Disposition")
        self.refused(b"", what="empty body")
        self.refused(b"just some bytes, no delimiter at all\r\n", what="no delimiter")

    def test_multipart_mixed_415(self):
        self.refused(self.good, ctype="multipart/mixed; boundary=" + BOUNDARY.decode(), code=415,
                     what="multipart/mixed")
        self.refused(self.good, ctype="multipart/related; boundary=" + BOUNDARY.decode(),
                     code=415, what="multipart/related")

    def test_still_serving_after_errors(self):
        self.refused(self.good[:1000], what="truncated")
        status, _, body = self.post(self.good)
        self.assertEqual(status, 201, body)
        self.check_files(json.loads(body), [("a", self.big, "a.bin"), ("b", b"second", "b.bin")])


# ------------------------------------------------------------------------------------------------

class Boundaries(MultipartTest):
    """Boundary parameter spellings users hit (RFC 2046, 7578)."""

    def test_boundary_spellings(self):
        data = random.Random(41).randbytes(200 * KiB)
        cases = [
            ("multipart/form-data; boundary=\"quoted-boundary\"", b"quoted-boundary"),
            ("multipart/form-data; boundary=\"with space and:colon\"", b"with space and:colon"),
            ("multipart/form-data; boundary=abc123; charset=utf-8", b"abc123"),
            ("multipart/form-data; boundary=\"q2\"; charset=utf-8", b"q2"),
            ("multipart/form-data; charset=utf-8; boundary=after", b"after"),
            ("multipart/form-data; Boundary=Capital", b"Capital"),
            ("MULTIPART/FORM-DATA; BOUNDARY=\"SHOUT\"", b"SHOUT"),
            ("multipart/form-data;boundary=tight", b"tight"),
            ("multipart/form-data; boundary=" + "7" * 70, b"7" * 70),
        ]
        for ctype, boundary in cases:
            body = form([fpart(b"f", b"b.bin", data), tpart(b"ct", ctype.encode())],
                        boundary=boundary)
            status, _, rbody = self.post(body, ctype=ctype)
            self.assertEqual(status, 201, (ctype, rbody))
            j = json.loads(rbody)
            self.check_files(j, [("f", data, "b.bin")])
            self.assertEqual(j["fields"], {"ct": ctype})

    def test_preamble_epilogue_and_padding(self):
        data = b"line1\r\n--not the boundary\r\n" + BOUNDARY[:-1] + b"\r\n\r\n"
        body = form([fpart(b"f", b"p.txt", data), tpart(b"t", b"--" + BOUNDARY + b"x")],
                    preamble=b"This is a preamble.\r\n\r\n", epilogue=b"\r\nepilogue text\r\n")
        status, _, rbody = self.post(body)
        self.assertEqual(status, 201, rbody)
        j = json.loads(rbody)
        self.check_files(j, [("f", data, "p.txt")])
        self.assertEqual(j["fields"], {"t": "--" + BOUNDARY.decode() + "x"})
        # transport padding (spaces after the boundary) is allowed by RFC 2046
        padded = body.replace(b"--" + BOUNDARY + b"\r\n", b"--" + BOUNDARY + b"  \t\r\n")
        status, _, rbody = self.post(padded)
        self.assertEqual(status, 201, rbody)
        self.check_files(json.loads(rbody), [("f", data, "p.txt")])


# ------------------------------------------------------------------------------------------------

class Gzip(MultipartTest):
    """Content-Encoding: gzip over a whole multipart body is decoded first."""

    def test_gzip_whole_body(self):
        rnd = random.Random(51)
        datas = [rnd.randbytes(MiB + 5), b"", b"text " * 20000]
        body = form([fpart(b"a", b"a.bin", datas[0]), tpart(b"t", "é".encode()),
                     fpart(b"b", b"b.bin", datas[1]), fpart(b"c", b"c.txt", datas[2])])
        gz = gzip.compress(body)
        status, _, rbody = self.post(gz, headers={"Content-Encoding": "gzip"})
        self.assertEqual(status, 201, rbody)
        j = json.loads(rbody)
        self.check_files(j, [("a", datas[0], "a.bin"), ("b", b"", "b.bin"),
                             ("c", datas[2], "c.txt")])
        self.assertEqual(j["fields"], {"t": "é"})
        # chunked, and deflate too
        status, rbody = self.post_raw(zlib.compress(body), extra_headers=b"Content-Encoding: "
                                      b"deflate\r\n", chunked=True)
        self.assertEqual(status, 201, rbody)
        self.check_files(json.loads(rbody), [("a", datas[0], "a.bin"), ("b", b"", "b.bin"),
                                             ("c", datas[2], "c.txt")])

    def test_corrupt_or_truncated_gzip_400_nothing_committed(self):
        body = form([fpart(b"a", b"a.bin", random.Random(52).randbytes(2 * MiB)),
                     fpart(b"b", b"b.bin", b"b")])
        gz = bytearray(gzip.compress(body))
        for what, bad in (("truncated", bytes(gz[:len(gz) - 100])),
                          ("crc", bytes(gz[:-8]) + struct.pack("<I", 0xdeadbeef) + bytes(gz[-4:]))):
            before = self.final_entries()
            status, rbody = self.post_raw(bad, extra_headers=b"Content-Encoding: gzip\r\n")
            self.assertEqual(status, 400, (what, rbody))
            self.assert_nothing_committed(before, what="gzip " + what)


# ------------------------------------------------------------------------------------------------

class Streaming(MultipartTest):
    """A big part streams with bounded memory; a client gone mid-part leaves nothing."""

    server_args = ("--upload-buffer", "64K")

    def setUp(self):
        # VmHWM is an RSS bound: under AddressSanitizer (quickstart's second run) its quarantine
        # of freed memory would count against it, as tests/CMakeLists.txt notes for
        # test_memory; without ASan these options are ignored.
        old = os.environ.get("ASAN_OPTIONS")
        os.environ["ASAN_OPTIONS"] = ((old + ":") if old else "") + \
            "quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
        try:
            super().setUp()
        finally:
            if old is None:
                del os.environ["ASAN_OPTIONS"]
            else:
                os.environ["ASAN_OPTIONS"] = old

    def test_200mib_file_part_flat_memory(self):
        total = 200 * MiB
        block = random.Random(61).randbytes(MiB)
        head = form([tpart(b"before", b"1")])[:-len(b"--" + BOUNDARY + b"--\r\n")]
        head += b"--" + BOUNDARY + b"\r\n" + fpart(b"big", b"big.bin", b"")[0] + b"\r\n"
        tail = b"\r\n--" + BOUNDARY + b"\r\n" + tpart(b"after", b"2")[0] + b"\r\n2\r\n--" + \
            BOUNDARY + b"--\r\n"
        length = len(head) + total + len(tail)
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=60)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 * MiB)
        h = hashlib.sha256()
        t0 = time.time()
        try:
            s.sendall(b"POST /files/ HTTP/1.1\r\nHost: sluice\r\nContent-Type: " + CTYPE.encode()
                      + b"\r\nContent-Length: %d\r\n\r\n" % length + head)
            hwm = []
            for i in range(total // MiB):
                data = i.to_bytes(8, "little") + block[8:]
                h.update(data)
                s.sendall(data)
                if i % 16 == 0:
                    hwm.append(self.srv.hwm_kib())
            s.sendall(tail)
            resp = read_response(s, timeout=60, read_all=False)
        finally:
            s.close()
        elapsed = time.time() - t0
        status, _, body = resp.partition(b"\r\n\r\n")
        self.assertIn(b" 201 ", status, resp[:300])
        j = json.loads(body)
        peak = self.srv.hwm_kib()
        print("\n  200 MiB part, --upload-buffer 64K: %.1fs (%.0f MiB/s), server VmHWM %d KiB"
              % (elapsed, total / MiB / elapsed, peak), file=sys.stderr)
        self.assertLess(peak, 64 * 1024, "VmHWM %d KiB" % peak)
        self.assertEqual(j["fields"], {"before": "1", "after": "2"})
        self.assertEqual(len(j["files"]), 1)
        e = j["files"][0]
        self.assertEqual((e["field"], e["size"], e["sha256"]), ("big", total, h.hexdigest()))
        path = os.path.join(self.srv.root, e["name"])
        self.assertEqual(os.path.getsize(path), total)
        hd = hashlib.sha256()
        with open(path, "rb") as f:
            for b in iter(lambda: f.read(4 * MiB), b""):
                hd.update(b)
        self.assertEqual(hd.hexdigest(), h.hexdigest())
        self.assertEqual(self.stage_entries(), [])
        self.assertEqual(self.srv.tmp_files(), [])

    def disconnect_mid_part(self, reset, chunked):
        first = random.Random(62).randbytes(MiB)
        second = random.Random(63).randbytes(4 * MiB)
        body = form([fpart(b"a", b"a.bin", first), tpart(b"t", b"v"),
                     fpart(b"b", b"b.bin", second)])
        sent = body[:len(body) - 2 * MiB]  # the middle of the second file
        before = self.final_entries()
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        head = b"POST /files/ HTTP/1.1\r\nHost: sluice\r\nContent-Type: " + CTYPE.encode() + b"\r\n"
        if chunked:
            s.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n")
            s.sendall(b"%x\r\n" % len(sent) + sent + b"\r\n")
        else:
            s.sendall(head + b"Content-Length: %d\r\n\r\n" % len(body) + sent)
        self.assertTrue(self.wait_for_stage_file(), "no staging directory while the body streams")
        if reset:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        self.assert_nothing_committed(before, what="disconnect reset=%s chunked=%s"
                                      % (reset, chunked))

    def test_client_disconnects_mid_part(self):
        for reset in (False, True):
            for chunked in (False, True):
                self.disconnect_mid_part(reset, chunked)
        # and the server goes on serving
        status, _, body = self.post(form([fpart(b"f", b"after.bin", b"ok")]))
        self.assertEqual(status, 201, body)
        self.check_files(json.loads(body), [("f", b"ok", "after.bin")])


# ------------------------------------------------------------------------------------------------

class ChromiumFixtures(MultipartTest):
    """Real Chromium submissions captured by fixtures/capture_chromium.py, replayed as sent."""

    def replay(self, name):
        with open(os.path.join(FIXTURES, name + ".body"), "rb") as f:
            body = f.read()
        with open(os.path.join(FIXTURES, name + ".ctype")) as f:
            ctype = f.read().strip()
        self.assertRegex(ctype, r"^multipart/form-data; boundary=----WebKitFormBoundary\w{16}$")
        status, _, rbody = self.post(body, ctype=ctype)
        self.assertEqual(status, 201, rbody)
        return json.loads(rbody), ordered(rbody)

    def test_fetch_formdata_with_files(self):
        j, o = self.replay("chromium-fetch")
        self.check_files(j, [("doc", "hello résumé\r\n--not-a-boundary\r\n".encode(), "résumé.txt"),
                             ("blob", bytes(range(256)) * 4, "data.bin")])
        self.assertEqual(o["fields"], [("title", "Grüße — ünïcödé ☃ 東京"), ("after", "last")])

    def test_plain_form_with_empty_file_input(self):
        before = self.final_entries()
        j, o = self.replay("chromium-form-empty")
        self.assertEqual(j["files"], [])
        self.assertEqual(o["fields"], [("comment", "Grüße aus Köln — 東京 ☃"), ("tail", "x y&z=1")])
        self.assertEqual(self.final_entries(), before)
        self.assertEqual(self.stage_entries(), [])

    def test_plain_form_with_files_via_datatransfer(self):
        j, o = self.replay("chromium-form-file")
        # Chromium sends 'say "hi".txt' as filename="say %22hi%22.txt" (HTML form encoding);
        # a server may keep that spelling or decode it (WHATWG's parser does): both are safe.
        quoted = j["files"][0]["name"].rpartition("/")[2]
        self.assertIn(quoted, ('say %22hi%22.txt', 'say "hi".txt'))
        self.check_files(j, [("upload", b"quoted\n", quoted), ("upload", b"x" * 1000, "ünï.txt"),
                             ("upload", b"", "empty.txt")])
        self.assertEqual(o["fields"], [("note", "día")])

    def test_fixtures_replayed_in_every_chunking(self):
        # the same bytes, over a raw socket in chunked encoding with 1..7-byte chunks: the
        # boundary straddles every chunk edge the server's reads can make
        with open(os.path.join(FIXTURES, "chromium-fetch.body"), "rb") as f:
            body = f.read()
        with open(os.path.join(FIXTURES, "chromium-fetch.ctype")) as f:
            ctype = f.read().strip()
        rnd = random.Random(71)
        msg = b"POST /files/ HTTP/1.1\r\nHost: sluice\r\nContent-Type: " + ctype.encode() + \
            b"\r\nTransfer-Encoding: chunked\r\n\r\n"
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=20)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            s.sendall(msg)
            i = 0
            while i < len(body):
                n = rnd.randint(1, 7)
                s.sendall(b"%x\r\n" % len(body[i:i + n]) + body[i:i + n] + b"\r\n")
                i += n
                if rnd.random() < 0.02:
                    time.sleep(0.002)
            s.sendall(b"0\r\n\r\n")
            resp = read_response(s, timeout=20, read_all=False)
        finally:
            s.close()
        head, _, rbody = resp.partition(b"\r\n\r\n")
        self.assertIn(b" 201 ", head, resp[:300])
        self.check_files(json.loads(rbody),
                         [("doc", "hello résumé\r\n--not-a-boundary\r\n".encode(), "résumé.txt"),
                          ("blob", bytes(range(256)) * 4, "data.bin")])


if __name__ == "__main__":
    unittest.main()
