#!/usr/bin/env python3
"""Integration tests for sluice's tus 1.0 server (docs/tus.md): the core protocol, creation,
metadata, HEAD, PATCH, termination. The extensions (creation-with-upload, checksum,
checksum-trailer, concatenation, expiration), CORS, where finished uploads land and one writer
per upload are in test_tus_extensions.py, which reuses TusTest from here.

Every request is written by hand on a raw socket (Connection: close), so nothing normalises it.
Every response under /uploads/ must carry Tus-Resumable: 1.0.0; every error (except to HEAD) must
carry sluice's JSON error body. After each test the server still serves /healthz, nothing outside
its root changed, and no response ever carried an injected header.

Run: SLUICE_BIN=build/sluice python3 -m unittest tests/integration/test_tus_protocol.py -v
"""
import base64
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LIMIT, Server, ServerTest, wait_until  # noqa: E402

TUS = "1.0.0"
OCT = "application/offset+octet-stream"
MiB = 1 << 20
PROMPT = LIMIT  # a hang guard for one exchange (below the 60 s --idle-timeout), never asserted
LOC_RE = re.compile(r"^/uploads/([0-9a-f]{32})$")
EXTENSIONS = {"creation", "creation-with-upload", "creation-defer-length", "termination",
              "checksum", "checksum-trailer", "expiration", "concatenation"}
ALGORITHMS = {"sha1", "sha256", "md5", "crc32"}
# Values that are not "decimal digits only, at most 2^63 - 1" (docs/tus.md).
HOSTILE_NUMBERS = [b"-1", b"abc", b"+5", b"", b"5 5", b"0x5", b"5.0", b"1e3", b"5abc",
                   b"\xef\xbc\x95",  # fullwidth digit five
                   b"9223372036854775808",  # 2^63
                   b"18446744073709551616",  # 2^64
                   b"99999999999999999999999"]
MAX_I63 = b"9223372036854775807"


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def bts(v):
    return v if isinstance(v, bytes) else str(v).encode("latin-1")


def snapshot(top, skip):
    """(relative path, kind, sha256) of everything under top except the subtree skip."""
    out = []
    for dp, dn, fn in os.walk(top):
        if os.path.abspath(dp) == os.path.abspath(skip):
            dn[:] = []
            continue
        for d in dn:
            out.append((os.path.relpath(os.path.join(dp, d), top), "dir", ""))
        for f in fn:
            with open(os.path.join(dp, f), "rb") as fh:
                out.append((os.path.relpath(os.path.join(dp, f), top), "file",
                            hashlib.sha256(fh.read()).hexdigest()))
    return sorted(out)


class Resp:
    """One parsed HTTP response: status (0 = none), headers as a list, body, raw bytes, and how
    the exchange ended ("response", "closed", "reset")."""

    def __init__(self, status, headers, body, raw, how):
        self.status, self.headers, self.body, self.raw, self.how = status, headers, body, raw, how

    def get(self, name):
        vals = self.all(name)
        return vals[-1] if vals else None

    def all(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    def has(self, name):
        return bool(self.all(name))

    def __repr__(self):
        return "<%s %s %r>" % (self.status, self.how, self.raw[:600])


def _recv(sock, deadline):
    left = deadline - time.time()
    if left <= 0:
        raise AssertionError("no answer within %ss" % PROMPT)
    sock.settimeout(left)
    try:
        return sock.recv(65536)
    except socket.timeout:
        raise AssertionError("no answer within %ss" % PROMPT)


def read_resp(sock, method, timeout=PROMPT):
    """Read one final response (skipping 1xx) from sock."""
    buf, deadline = b"", time.time() + timeout
    while True:
        while b"\r\n\r\n" not in buf:
            try:
                chunk = _recv(sock, deadline)
            except ConnectionError:
                return Resp(0, [], b"", buf, "reset")
            if not chunk:
                return Resp(0, [], b"", buf, "closed")
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        if re.match(rb"HTTP/1\.[01] 1\d\d", head):
            buf = rest
            continue
        break
    lines = head.split(b"\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", lines[0])
    if not m:
        raise AssertionError("not an HTTP response: %r" % buf[:300])
    status = int(m.group(1))
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers.append((k.decode("latin-1"), v.strip(b" \t").decode("latin-1")))
    r = Resp(status, headers, b"", head, "response")
    if method == "HEAD" or status in (204, 304):
        return r
    cl = r.get("content-length")
    while True:
        if cl is not None and len(rest) >= int(cl):
            rest = rest[:int(cl)]
            break
        try:
            chunk = _recv(sock, deadline)
        except ConnectionError:
            break
        if not chunk:
            break
        rest += chunk
    r.body, r.raw = rest, head + b"\r\n\r\n" + rest
    return r


def build_request(method, path, headers, body=b"", chunks=None, trailers=None):
    """Raw request bytes. headers: list of (name, value), values str or bytes, sent verbatim.
    chunks: send a chunked body of these pieces (then trailers, a list of raw lines)."""
    out = [bts(method) + b" " + bts(path) + b" HTTP/1.1", b"Host: 127.0.0.1"]
    for k, v in headers:
        out.append(bts(k) + b": " + bts(v))
    if chunks is not None:
        out.append(b"Transfer-Encoding: chunked")
    elif body or method in ("POST", "PATCH"):
        out.append(b"Content-Length: %d" % len(body))
    out.append(b"Connection: close")
    data = b"\r\n".join(out) + b"\r\n\r\n"
    if chunks is not None:
        for c in chunks:
            data += b"%x\r\n%s\r\n" % (len(c), c)
        data += b"0\r\n" + b"".join(bts(t) + b"\r\n" for t in (trailers or [])) + b"\r\n"
    else:
        data += body
    return data


class TusTest(ServerTest):
    """One server per test, rooted at SANDBOX/a/b/root. Helpers for tus requests; tearDown
    checks /healthz, the sandbox outside the root, and that no response carried X-Evil."""

    def setUp(self):
        self.sandbox = tempfile.mkdtemp(prefix="sluice-tus-")
        self.addCleanup(shutil.rmtree, self.sandbox, True)
        self.root = os.path.join(self.sandbox, "a", "b", "root")
        os.makedirs(self.root)
        with open(os.path.join(self.sandbox, "a", "victim"), "wb") as f:
            f.write(b"do not touch")
        self.outside_before = snapshot(self.sandbox, self.root)
        self.responses = []
        self.srv = Server(*self.server_args, root=self.root).start()
        self.addCleanup(self._rm_log)

    def _rm_log(self):
        try:
            os.unlink(self.srv.log_path)
        except OSError:
            pass

    def tearDown(self):
        try:
            r = self.req("GET", "/healthz", tus=False)
            self.assertEqual(r.status, 200, "server no longer serves /healthz: %r" % r)
            for resp in self.responses:
                self.assertFalse(resp.has("X-Evil"), "injected header in a response: %r" % resp)
                self.assertNotRegex(resp.raw.split(b"\r\n\r\n")[0], rb"(?im)^x-evil",
                                    "injected header in a response")
            self.assertEqual(snapshot(self.sandbox, self.root), self.outside_before,
                             "something changed outside the root")
        finally:
            super().tearDown()

    # -- requests ------------------------------------------------------------------------------

    def send_raw(self, data, method, port=None):
        s = socket.create_connection(("127.0.0.1", port or self.srv.port), timeout=PROMPT)
        try:
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass
            r = read_resp(s, method)
        finally:
            s.close()
        self.responses.append(r)
        return r

    def req(self, method, path, headers=(), body=b"", chunks=None, trailers=None, tus=True,
            check_tus=True, port=None, allow_5xx=()):
        """One request. tus: add Tus-Resumable: 1.0.0 (unless headers name it). Under /uploads
        the response must carry Tus-Resumable: 1.0.0 (check_tus)."""
        headers = list(headers.items() if isinstance(headers, dict) else headers)
        if tus and not any(k.lower() == "tus-resumable" for k, _ in headers):
            headers.insert(0, ("Tus-Resumable", TUS))
        r = self.send_raw(build_request(method, path, headers, body, chunks, trailers), method, port)
        self.assertNotEqual(r.status, 0, "no response to %s %s: %r" % (method, path, r))
        if r.status not in allow_5xx:
            self.assertLess(r.status, 500, "%s %s: %r" % (method, path, r))
        if check_tus and path.startswith("/uploads"):
            self.assertEqual(r.get("Tus-Resumable"), TUS,
                             "no Tus-Resumable: 1.0.0 on %s %s: %r" % (method, path, r))
        return r

    def create(self, length=None, defer=False, meta=None, concat=None, headers=(), body=None,
               ctype=OCT, port=None, allow_5xx=()):
        h = list(headers)
        if length is not None:
            h.append(("Upload-Length", length))
        if defer:
            h.append(("Upload-Defer-Length", "1"))
        if meta is not None:
            h.append(("Upload-Metadata", meta))
        if concat is not None:
            h.append(("Upload-Concat", concat))
        if body is not None and ctype is not None:
            h.append(("Content-Type", ctype))
        return self.req("POST", "/uploads/", h, body or b"", port=port, allow_5xx=allow_5xx)

    def created(self, *a, **kw):
        """create() that must succeed; returns the upload id."""
        r = self.create(*a, **kw)
        self.assertEqual(r.status, 201, r)
        m = LOC_RE.match(r.get("Location") or "")
        self.assertTrue(m, "Location is not /uploads/<32 hex>: %r" % r)
        return m.group(1)

    def head(self, uid, **kw):
        return self.req("HEAD", "/uploads/" + uid, **kw)

    def patch(self, uid, offset, data=b"", ctype=OCT, headers=(), **kw):
        h = []
        if offset is not None:
            h.append(("Upload-Offset", offset))
        if ctype is not None:
            h.append(("Content-Type", ctype))
        return self.req("PATCH", "/uploads/" + uid, h + list(headers), data, **kw)

    def delete(self, uid, **kw):
        return self.req("DELETE", "/uploads/" + uid, **kw)

    def offset_of(self, uid):
        r = self.head(uid)
        self.assertEqual(r.status, 200, r)
        self.assertRegex(r.get("Upload-Offset") or "", r"^\d+$", r)
        return int(r.get("Upload-Offset"))

    def upload(self, data, meta=None, pieces=3):
        """Create an upload of len(data) and PATCH it in pieces; returns (id, last response)."""
        uid = self.created(length=len(data), meta=meta)
        off, step, r = 0, max(1, -(-len(data) // pieces)), None
        while off < len(data):
            r = self.patch(uid, off, data[off:off + step])
            self.assertEqual(r.status, 204, r)
            off = min(len(data), off + step)
            self.assertEqual(r.get("Upload-Offset"), str(off), r)
        return uid, r

    # -- checks --------------------------------------------------------------------------------

    def assert_error(self, r, status, method=None):
        """status, and (except for HEAD) sluice's JSON error body."""
        if isinstance(status, int):
            status = (status,)
        self.assertIn(r.status, status, r)
        if method != "HEAD":
            self.assertRegex(r.get("Content-Type") or "", r"^application/json", r)
            doc = json.loads(r.body)
            self.assertIsInstance(doc.get("error"), str, doc)
            self.assertEqual(doc.get("status"), r.status, doc)

    def tus_dir(self):
        return os.path.join(self.root, ".sluice", "tus")

    def tus_files(self, uid=None):
        d = self.tus_dir()
        names = sorted(os.listdir(d)) if os.path.isdir(d) else []
        return [n for n in names if uid is None or n.startswith(uid)]

    def info_count(self):
        return len([n for n in self.tus_files() if n.endswith(".info")])

    def read_root(self, name):
        with open(os.path.join(self.root, name), "rb") as f:
            return f.read()

    def wait_gone(self, uid):
        wait_until(lambda: not self.tus_files(uid),
                   lambda: "the files of %s to leave .sluice/tus: %s" % (uid, self.tus_files(uid)))


# -----------------------------------------------------------------------------------------------

class Discovery(TusTest):
    server_args = ("--max-size", "0")  # no limit: no Tus-Max-Size (MaxSize has one)
    def test_options_headers(self):
        for tus in (False, True):
            with self.subTest(with_tus_resumable=tus):
                r = self.req("OPTIONS", "/uploads/", tus=tus)
                self.assertEqual(r.status, 204, r)
                self.assertIn(TUS, [v.strip() for v in (r.get("Tus-Version") or "").split(",")], r)
                exts = {v.strip() for v in (r.get("Tus-Extension") or "").split(",")}
                self.assertEqual(exts, EXTENSIONS, r)
                algs = {v.strip() for v in (r.get("Tus-Checksum-Algorithm") or "").split(",")}
                self.assertEqual(algs, ALGORITHMS, r)
                self.assertFalse(r.has("Tus-Max-Size"), "Tus-Max-Size without --max-size: %r" % r)
        # OPTIONS ignores Tus-Resumable, whatever its value.
        r = self.req("OPTIONS", "/uploads/", [("Tus-Resumable", "0.2.2")])
        self.assertEqual(r.status, 204, r)

    def test_412_without_or_with_other_version(self):
        uid = self.created(length=5)
        self.assertEqual(self.patch(uid, 0, b"ab").status, 204)
        infos = self.info_count()
        for version in (None, b"0.2.2", b"1.0", b"", b"1.0.0.0", b"2.0.0"):
            hdr = [] if version is None else [("Tus-Resumable", version)]
            cases = [("POST", "/uploads/", [("Upload-Length", "5")], b""),
                     ("HEAD", "/uploads/" + uid, [], b""),
                     ("PATCH", "/uploads/" + uid, [("Upload-Offset", "2"), ("Content-Type", OCT)], b"cd"),
                     ("DELETE", "/uploads/" + uid, [], b"")]
            for method, path, extra, body in cases:
                with self.subTest(version=version, method=method):
                    r = self.req(method, path, hdr + extra, body, tus=False)
                    self.assert_error(r, 412, method)
                    self.assertIn(TUS, [v.strip() for v in (r.get("Tus-Version") or "").split(",")], r)
                    self.assertFalse(r.has("Location"), r)
        # Nothing was processed: no upload created, none written or deleted.
        self.assertEqual(self.info_count(), infos)
        self.assertEqual(self.offset_of(uid), 2)


class Creation(TusTest):
    server_args = ("--max-size", "0")  # lengths up to 2^63 - 1 reach the store
    def test_create_location_offset_and_files(self):
        ids = set()
        for _ in range(5):
            r = self.create(length=5)
            self.assertEqual(r.status, 201, r)
            m = LOC_RE.match(r.get("Location") or "")
            self.assertTrue(m, r)
            self.assertEqual(r.get("Upload-Offset"), "0", r)
            self.assertTrue(r.has("Upload-Expires"), "no Upload-Expires (default --tus-expire): %r" % r)
            ids.add(m.group(1))
        self.assertEqual(len(ids), 5, "upload ids repeat")
        for uid in ids:
            self.assertEqual(self.tus_files(uid), [uid + ".data", uid + ".info"])
            r = self.head(uid)
            self.assertEqual(r.status, 200, r)
            self.assertEqual((r.get("Upload-Offset"), r.get("Upload-Length")), ("0", "5"), r)
        self.assertEqual(self.srv.final_files(), [])

    def test_defer_length(self):
        uid = self.created(defer=True)
        r = self.head(uid)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.get("Upload-Defer-Length"), "1", r)
        self.assertFalse(r.has("Upload-Length"), r)
        self.assertEqual(r.get("Upload-Offset"), "0", r)

    def test_ambiguous_or_missing_length_400(self):
        infos = self.info_count()
        cases = [[("Upload-Length", "5"), ("Upload-Defer-Length", "1")],
                 [],
                 [("Upload-Defer-Length", "2")],
                 [("Upload-Defer-Length", "0")],
                 [("Upload-Defer-Length", "yes")],
                 [("Upload-Defer-Length", "")]]
        for hdrs in cases:
            with self.subTest(headers=hdrs):
                self.assert_error(self.req("POST", "/uploads/", hdrs), 400)
        self.assertEqual(self.info_count(), infos)

    def test_hostile_upload_length_400(self):
        for v in HOSTILE_NUMBERS:
            with self.subTest(value=v):
                r = self.req("POST", "/uploads/", [("Upload-Length", v)])
                self.assert_error(r, 400)
                self.assertFalse(r.has("Location"), r)
        self.assertEqual(self.info_count(), 0)

    def test_largest_length_accepted(self):
        # 2^63 - 1 is a valid Upload-Length; refusing it for space (507) is not a parse error.
        r = self.create(length=MAX_I63, allow_5xx=(507,))
        self.assertIn(r.status, (201, 507), r)
        if r.status == 201:
            uid = LOC_RE.match(r.get("Location")).group(1)
            self.assertEqual(self.head(uid).get("Upload-Length"), MAX_I63.decode())
            self.assertEqual(self.delete(uid).status, 204)

    def test_zero_length_completes_at_once(self):
        r = self.create(length=0)
        self.assertEqual(r.status, 201, r)
        uid = LOC_RE.match(r.get("Location")).group(1)
        self.assertEqual(r.get("Upload-Offset"), "0", r)
        self.assertEqual(r.get("Sluice-File"), "/files/" + uid, r)
        self.assertEqual(self.read_root(uid), b"")
        r = self.head(uid)
        self.assertEqual((r.status, r.get("Upload-Offset"), r.get("Upload-Length")), (200, "0", "0"), r)
        self.assertEqual(r.get("Sluice-File"), "/files/" + uid, r)
        # The committed file is served like any other.
        r = self.req("GET", "/files/" + uid, tus=False)
        self.assertEqual((r.status, r.body), (200, b""), r)


class MaxSize(TusTest):
    server_args = ("--max-size", "1000")

    def test_options_max_size(self):
        r = self.req("OPTIONS", "/uploads/", tus=False)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.get("Tus-Max-Size"), "1000", r)

    def test_over_max_size_413(self):
        self.assert_error(self.create(length=1001), 413)
        self.assert_error(self.create(length=MAX_I63), 413)
        self.assertEqual(self.info_count(), 0)
        uid = self.created(length=1000)
        self.assertEqual(self.patch(uid, 0, b"x" * 1000).status, 204)
        self.assertEqual(self.read_root(uid), b"x" * 1000)
        # A deferred length set above --max-size is refused too (400 or 413: the doc lists only
        # 413 for POST, 400 for a bad PATCH Upload-Length).
        uid = self.created(defer=True)
        r = self.patch(uid, 0, b"abc", headers=[("Upload-Length", "1001")])
        self.assert_error(r, (400, 413))
        self.assertEqual(self.offset_of(uid), 0)


class Metadata(TusTest):
    def echo(self, meta):
        uid = self.created(length=10, meta=meta)
        r = self.head(uid)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(bts(r.get("Upload-Metadata") or ""), bts(meta), r)
        return uid

    def test_valid_metadata_echoed_exactly(self):
        for meta in ["filename aGVsbG8udHh0",
                     "filename aGVsbG8udHh0,filetype dGV4dC9wbGFpbg==,is_confidential",
                     "is_confidential",
                     "a,b YQ==,c",
                     "filename DQpYLUV2aWw6IDE=",  # base64 of "\r\nX-Evil: 1": harmless as base64
                     "k" * 255 + " YQ==",
                     "~!@#$%^&*()_+{}|:\"<>?`-=[]\\;'./ YQ=="]:
            with self.subTest(meta=meta[:40]):
                self.echo(meta)

    def test_metadata_at_8k_accepted(self):
        prefix = "big "
        meta = prefix + "A" * (8192 - len(prefix))
        self.assertEqual(len(meta), 8192)
        self.echo(meta)

    def test_malformed_metadata_400(self):
        cases = [
            b"filename a!==",                # bad base64 character
            b"filename YQ=",                 # bad padding
            b"filename Y",                   # impossible length
            b"filename YQ==YQ==",            # padding in the middle
            b"filename YQ== YQ==",           # two values
            b"filename \xc3\xa9",            # non-ASCII value
            b"a YQ==,a Yg==",                # duplicate key
            b"a,a",                          # duplicate key without values
            b"my key YQ==",                  # key with a space
            b"a YQ==, Yg==",                 # a space is no key byte (and no separator)
            b"a YQ== ,b Yg==",               # nor a space after a value
            b"a YQ==,,b Yg==",               # empty pair
            b",",
            b"a YQ==,",                      # trailing comma: an empty key
            b"k\xc3\xa9y YQ==",              # non-ASCII key
            b"k\x01y YQ==",                  # control byte in the key
            b"k\ty YQ==",                    # tab in the key
            b"k" * 256 + b" YQ==",           # key of 256 bytes
            b"big " + b"A" * 8189,           # 8193 bytes
            b"big " + b"A" * 20000,
        ]
        for meta in cases:
            with self.subTest(meta=meta[:40]):
                r = self.create(length=10, meta=meta)
                self.assert_error(r, 400)
                self.assertFalse(r.has("Location"), r)
        self.assertEqual(self.info_count(), 0)

    def post_raw_metadata(self, raw_meta):
        return self.send_raw(b"POST /uploads/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n"
                             b"Upload-Length: 10\r\nUpload-Metadata: " + raw_meta +
                             b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", "POST")

    def test_header_injection_never_echoed(self):
        # A bare CR inside the value is refused.
        r = self.post_raw_metadata(b"filename aGk=\rX-Evil: 1")
        self.assertEqual(r.status, 400, r)
        self.assertEqual(self.info_count(), 0)
        # CRLF or a bare LF end the header line: the request is well-formed with an extra request
        # header X-Evil. Whatever the server makes of it, no response may carry X-Evil (tearDown)
        # and HEAD echoes only the metadata.
        for raw_meta in (b"filename aGk=\r\nX-Evil: 1", b"filename aGk=\nX-Evil: 1"):
            with self.subTest(meta=raw_meta):
                r = self.post_raw_metadata(raw_meta)
                self.assertIn(r.status, (201, 400), r)
                if r.status == 201:
                    uid = LOC_RE.match(r.get("Location")).group(1)
                    h = self.head(uid)
                    self.assertEqual(h.all("Upload-Metadata"), ["filename aGk="], h)
                    p = self.patch(uid, 0, b"0123456789")
                    self.assertEqual(p.status, 204, p)
        # A filename that decodes to CRLF + header is valid base64 but not a valid name.
        uid = self.created(length=3, meta="filename " + b64("\r\nX-Evil: 1"))
        r = self.patch(uid, 0, b"abc")
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.get("Sluice-File"), "/files/" + uid, r)
        self.assertEqual(self.read_root(uid), b"abc")

    def test_folded_metadata_400(self):
        # obs-fold: RFC 9112 §5.2 says reject it or replace it by SP. libmicrohttpd 0.9.75 glues
        # the continuation onto the field *name*; sluice refuses a name with a space, tab or ':'.
        for raw_meta in (b"filename aGk=\r\n X-Evil: 1", b"filename aGk=\r\n\tX-Evil: 1"):
            with self.subTest(meta=raw_meta):
                r = self.post_raw_metadata(raw_meta)
                self.assertEqual(r.status, 400, r)
        self.assertEqual(self.info_count(), 0)

    def test_nul_in_metadata_is_cut_never_echoed(self):
        # libmicrohttpd 0.9.75 ends a field value at a NUL and reports the shortened length, so
        # the server never sees the bytes after it: what is stored and echoed is the valid prefix.
        r = self.post_raw_metadata(b"filename aGk=\x00X-Evil: 1")
        self.assertIn(r.status, (201, 400), r)
        if r.status == 201:
            uid = LOC_RE.match(r.get("Location")).group(1)
            self.assertEqual(self.head(uid).get("Upload-Metadata"), "filename aGk=")


class Head(TusTest):
    def test_head_headers(self):
        uid = self.created(length=10, meta="filename YS50eHQ=")
        self.assertEqual(self.patch(uid, 0, b"abcd").status, 204)
        r = self.head(uid)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.get("Upload-Offset"), "4", r)
        self.assertEqual(r.get("Upload-Length"), "10", r)
        self.assertFalse(r.has("Upload-Defer-Length"), r)
        self.assertEqual(r.get("Upload-Metadata"), "filename YS50eHQ=", r)
        self.assertIn("no-store", [v.strip() for v in (r.get("Cache-Control") or "").split(",")], r)
        self.assertTrue(r.has("Upload-Expires"), r)
        self.assertFalse(r.has("Sluice-File"), "Sluice-File before completion: %r" % r)

    def test_unknown_404_without_offset(self):
        for uid in ("0" * 32, os.urandom(16).hex()):
            r = self.head(uid)
            self.assert_error(r, 404, "HEAD")
            self.assertFalse(r.has("Upload-Offset"), r)

    def test_malformed_ids_never_5xx(self):
        uid = self.created(length=10)
        self.assertEqual(self.patch(uid, 0, b"abc").status, 204)
        paths = ["/uploads/../x", "/uploads/zzz", "/uploads/%2e%2e/x", "/uploads/..",
                 "/uploads/" + "0" * 31, "/uploads/" + "0" * 33, "/uploads/" + "g" * 32,
                 "/uploads/" + uid + "/x", "/uploads/" + uid + ".info", "/uploads/" + uid + ".data",
                 "/uploads/" + uid + "%00", "/uploads/.sluice", "/uploads/%2e%2e%2f%2e%2e%2fetc",
                 "/uploads/../../../../etc/passwd", "/uploads/a%0d%0aX-Evil:%201",
                 "/uploads/" + "a" * 3000]
        for path in paths:
            for method in ("HEAD", "PATCH", "DELETE"):
                with self.subTest(path=path[:50], method=method):
                    hdrs = [("Upload-Offset", "3"), ("Content-Type", OCT)] if method == "PATCH" else []
                    r = self.req(method, path, hdrs, b"xyz" if method == "PATCH" else b"",
                                 check_tus=False)
                    self.assertIn(r.status, (400, 404, 414), r)
                    if r.status != 414:
                        self.assertEqual(r.get("Tus-Resumable"), TUS, r)
                    self.assertFalse(r.has("Upload-Offset"), r)
        self.assertEqual(self.offset_of(uid), 3)
        self.assertEqual(self.tus_files(uid), [uid + ".data", uid + ".info"])


class Patch(TusTest):
    def test_content_type_415(self):
        uid = self.created(length=10)
        for ct in ("application/octet-stream", "text/plain", None, "",
                   "application/offset+octet-streamx", "multipart/form-data; boundary=x"):
            with self.subTest(ctype=ct):
                self.assert_error(self.patch(uid, 0, b"abc", ctype=ct), 415)
        self.assertEqual(self.offset_of(uid), 0)

    def test_offset_missing_or_hostile_400(self):
        uid = self.created(length=10)
        self.assertEqual(self.patch(uid, 0, b"ab").status, 204)
        self.assert_error(self.patch(uid, None, b"cd"), 400)
        for v in HOSTILE_NUMBERS:
            with self.subTest(value=v):
                self.assert_error(self.patch(uid, v, b"cd"), 400)
        # A valid number that is not the offset is a conflict, not a parse error.
        r = self.patch(uid, MAX_I63, b"cd")
        self.assert_error(r, 409)
        self.assertEqual(self.offset_of(uid), 2)

    def test_offset_mismatch_409(self):
        uid = self.created(length=10)
        r = self.patch(uid, 3, b"abc")
        self.assert_error(r, 409)
        self.assertEqual(r.get("Upload-Offset"), "0", r)
        self.assertEqual(self.patch(uid, 0, b"abcde").status, 204)
        for off in (0, 4, 6, 10):
            with self.subTest(offset=off):
                r = self.patch(uid, off, b"f")
                self.assert_error(r, 409)
                self.assertEqual(r.get("Upload-Offset"), "5", r)
        self.assertEqual(self.offset_of(uid), 5)

    def test_patch_success_and_completion(self):
        data = os.urandom(300 * 1024) + b"\r\n\x00\r\n0\r\n\r\n"
        uid = self.created(length=len(data), meta="filename " + b64("blob.bin"))
        r = self.patch(uid, 0, b"")  # an empty PATCH changes nothing
        self.assertEqual((r.status, r.get("Upload-Offset")), (204, "0"), r)
        r = self.patch(uid, 0, data[:100000])
        self.assertEqual((r.status, r.get("Upload-Offset")), (204, "100000"), r)
        self.assertTrue(r.has("Upload-Expires"), r)
        self.assertFalse(r.has("Sluice-File"), r)
        self.assertFalse(os.path.exists(os.path.join(self.root, "blob.bin")))
        r = self.patch(uid, 100000, chunks=[data[100000:150000], data[150000:150001],
                                           data[150001:200000]])
        self.assertEqual((r.status, r.get("Upload-Offset")), (204, "200000"), r)
        r = self.patch(uid, 200000, data[200000:])
        self.assertEqual((r.status, r.get("Upload-Offset")), (204, str(len(data))), r)
        self.assertEqual(r.get("Sluice-File"), "/files/blob.bin", r)
        self.assertEqual(self.read_root("blob.bin"), data)
        r = self.head(uid)
        self.assertEqual((r.get("Upload-Offset"), r.get("Sluice-File")),
                         (str(len(data)), "/files/blob.bin"), r)
        # Nothing more fits: 413, and the committed file is untouched.
        self.assert_error(self.patch(uid, len(data), b"x"), 413)
        self.assertEqual(self.read_root("blob.bin"), data)
        self.assertEqual(self.srv.final_files(), ["blob.bin"])

    def test_past_length_413_offset_unchanged(self):
        uid = self.created(length=10)
        self.assertEqual(self.patch(uid, 0, b"abc").status, 204)
        self.assert_error(self.patch(uid, 3, b"x" * 8), 413)
        self.assertEqual(self.offset_of(uid), 3)
        r = self.patch(uid, 3, chunks=[b"defg", b"hijk"])  # chunked: 8 bytes into a 7-byte hole
        self.assert_error(r, 413)
        self.assertEqual(self.offset_of(uid), 3)
        self.assertEqual(self.srv.final_files(), [])
        r = self.patch(uid, 3, b"defghij")
        self.assertEqual((r.status, r.get("Sluice-File")), (204, "/files/" + uid), r)
        self.assertEqual(self.read_root(uid), b"abcdefghij")

    def test_deferred_length(self):
        uid = self.created(defer=True)
        r = self.patch(uid, 0, b"abcd")  # still deferred
        self.assertEqual((r.status, r.get("Upload-Offset")), (204, "4"), r)
        self.assertEqual(self.head(uid).get("Upload-Defer-Length"), "1")
        for bad in (b"3", b"-1", b"abc", b"", b"9223372036854775808"):  # below the offset, or bad
            with self.subTest(length=bad):
                self.assert_error(self.patch(uid, 4, b"ef", headers=[("Upload-Length", bad)]), 400)
                self.assertEqual(self.offset_of(uid), 4)
        r = self.patch(uid, 4, b"ef", headers=[("Upload-Length", "10")])
        self.assertEqual((r.status, r.get("Upload-Offset")), (204, "6"), r)
        h = self.head(uid)
        self.assertEqual((h.get("Upload-Length"), h.has("Upload-Defer-Length")), ("10", False), h)
        self.assert_error(self.patch(uid, 6, b"gh", headers=[("Upload-Length", "12")]), 400)
        self.assertEqual(self.offset_of(uid), 6)
        r = self.patch(uid, 6, b"ghij")
        self.assertEqual((r.status, r.get("Sluice-File")), (204, "/files/" + uid), r)
        self.assertEqual(self.read_root(uid), b"abcdefghij")

    def test_deferred_length_below_body_413(self):
        uid = self.created(defer=True)
        self.assert_error(self.patch(uid, 0, b"abcd", headers=[("Upload-Length", "3")]), 413)
        self.assertEqual(self.offset_of(uid), 0)
        r = self.patch(uid, 0, b"abc", headers=[("Upload-Length", "3")])
        self.assertEqual((r.status, r.get("Sluice-File")), (204, "/files/" + uid), r)

    def test_unknown_404(self):
        self.assert_error(self.patch("f" * 32, 0, b"abc"), 404)
        self.assertEqual(self.tus_files("f" * 32), [])

    def test_method_override(self):
        uid = self.created(length=6)
        r = self.req("POST", "/uploads/" + uid, [("X-HTTP-Method-Override", "PATCH"),
                                                 ("Upload-Offset", "0"), ("Content-Type", OCT)],
                     b"abc")
        self.assertEqual((r.status, r.get("Upload-Offset")), (204, "3"), r)
        self.assertEqual(self.offset_of(uid), 3)
        r = self.req("POST", "/uploads/" + uid, [("X-HTTP-Method-Override", "DELETE")])
        self.assertEqual(r.status, 204, r)
        self.assert_error(self.head(uid), 404, "HEAD")


class Termination(TusTest):
    def test_delete(self):
        uid = self.created(length=10)
        self.assertEqual(self.patch(uid, 0, b"abc").status, 204)
        r = self.delete(uid)
        self.assertEqual(r.status, 204, r)
        self.wait_gone(uid)
        self.assert_error(self.head(uid), 404, "HEAD")
        self.assert_error(self.patch(uid, 3, b"def"), 404)
        self.assert_error(self.patch(uid, 0, b"def"), 404)
        self.assert_error(self.delete(uid), 404)
        self.assertEqual(self.tus_files(uid), [])
        self.assert_error(self.delete("e" * 32), 404)


if __name__ == "__main__":
    unittest.main()
