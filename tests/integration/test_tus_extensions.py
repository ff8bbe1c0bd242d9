#!/usr/bin/env python3
"""Integration tests for sluice's tus extensions (docs/tus.md): creation-with-upload, checksum,
checksum-trailer, concatenation, expiration, CORS; where a finished upload lands; one writer
per upload. Core protocol tests and the shared TusTest base (raw-socket requests, a server per
test, the /healthz, injection and outside-root checks) are in test_tus_protocol.py.

Run: SLUICE_BIN=build/sluice python3 -m unittest tests/integration/test_tus_extensions.py -v
"""
import email.utils
import hashlib
import os
import re
import socket
import struct
import sys
import time
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LIMIT, wait_until  # noqa: E402
from test_tus_protocol import LOC_RE, MiB, OCT, PROMPT, TusTest, b64  # noqa: E402

HTTP_DATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|"
                       r"Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$")


def digest(alg, data):
    if alg == "crc32":
        return struct.pack(">I", zlib.crc32(data) & 0xFFFFFFFF)
    return hashlib.new(alg, data).digest()


def checksum(alg, data):
    return "%s %s" % (alg, b64(digest(alg, data)))


def expires_at(r):
    v = r.get("Upload-Expires") or ""
    if not HTTP_DATE.match(v):
        raise AssertionError("Upload-Expires is not an RFC 9110 date: %r" % (r,))
    return email.utils.parsedate_to_datetime(v).timestamp()


def tokens(v):
    return {t.strip().lower() for t in (v or "").split(",") if t.strip()}


# A payload whose crc32 has a zero top byte and one whose crc32 has the top bit set: big-endian
# and no sign trouble.
CRC_LOW = next(b"low%d" % i for i in range(100000) if zlib.crc32(b"low%d" % i) < 0x01000000)
CRC_HIGH = next(b"hi%d" % i for i in range(100000) if zlib.crc32(b"hi%d" % i) >= 0xF0000000)


class Naming(TusTest):
    def test_traversal_lands_inside_root(self):
        for fname, want in (("../../etc/passwd", "passwd"), ("..\\..\\x\\win.txt", "win.txt"),
                            ("/abs/path/abs.txt", "abs.txt")):
            with self.subTest(filename=fname):
                uid, r = self.upload(b"pwned " + fname.encode(), meta="filename " + b64(fname))
                self.assertEqual(r.get("Sluice-File"), "/files/" + want, r)
                self.assertEqual(self.read_root(want), b"pwned " + fname.encode())
        self.assertEqual(self.srv.final_files(), ["abs.txt", "passwd", "win.txt"])

    def test_invalid_names_fall_back_to_id(self):
        for fname in ("..", ".sluice", "a/..", "dir/", ".", "bad\x01name", "\xff"):
            with self.subTest(filename=fname):
                raw = fname.encode("latin-1") if fname == "\xff" else fname.encode()
                uid, r = self.upload(b"x", meta="filename " + b64(raw), pieces=1)
                self.assertEqual(r.get("Sluice-File"), "/files/" + uid, r)
                self.assertEqual(self.read_root(uid), b"x")

    def test_name_key_and_no_name(self):
        uid, r = self.upload(b"n", meta="name " + b64("by-name.txt"), pieces=1)
        self.assertEqual(r.get("Sluice-File"), "/files/by-name.txt", r)
        uid, r = self.upload(b"f", meta="name " + b64("other.txt") + ",filename " + b64("by-filename.txt"),
                             pieces=1)
        self.assertEqual(r.get("Sluice-File"), "/files/by-filename.txt", r)
        uid, r = self.upload(b"i", pieces=1)
        self.assertEqual(r.get("Sluice-File"), "/files/" + uid, r)
        self.assertEqual(sorted(self.srv.final_files()), sorted(["by-name.txt", "by-filename.txt", uid]))

    def test_collision_never_replaces(self):
        meta = "filename " + b64("same.txt")
        uid1, r = self.upload(b"first", meta=meta)
        self.assertEqual(r.get("Sluice-File"), "/files/same.txt", r)
        uid2, r = self.upload(b"second", meta=meta)
        self.assertEqual(r.get("Sluice-File"), "/files/%s/same.txt" % uid2, r)
        self.assertEqual(self.head(uid2).get("Sluice-File"), "/files/%s/same.txt" % uid2)
        self.assertEqual(self.read_root("same.txt"), b"first")
        self.assertEqual(self.read_root(uid2 + "/same.txt"), b"second")
        # Also against a file stored by PUT.
        r = self.req("PUT", "/files/put.txt", body=b"by put", tus=False)
        self.assertEqual(r.status, 201, r)
        uid3, r = self.upload(b"by tus", meta="filename " + b64("put.txt"))
        self.assertEqual(r.get("Sluice-File"), "/files/%s/put.txt" % uid3, r)
        self.assertEqual(self.read_root("put.txt"), b"by put")
        self.assertEqual(self.srv.final_files(),
                         sorted(["same.txt", uid2 + "/same.txt", "put.txt", uid3 + "/put.txt"]))


class OneWriter(TusTest):
    def open_patch(self, uid, offset, length, first):
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=PROMPT)
        s.sendall(b"PATCH /uploads/%s HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n"
                  b"Upload-Offset: %d\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
                  % (uid.encode(), offset, OCT.encode(), length) + first)
        self.addCleanup(s.close)
        # Let the server take in what was sent: wait until it is in the data file.
        data = os.path.join(self.tus_dir(), uid + ".data")
        wait_until(lambda: os.path.getsize(data) >= offset + len(first),
                   "the first %d bytes in the data file" % len(first))
        return s

    def assert_closed_by_server(self, s):
        """The server closes the stopped writer's connection itself (the client never does; the
        idle timeout, 60 s, is past the LIMIT this waits)."""
        s.settimeout(LIMIT)
        try:
            while s.recv(65536):
                pass
        except socket.timeout:
            self.fail("the server did not close the stopped writer's connection")
        except OSError:
            pass

    def test_head_stops_old_writer(self):
        data = os.urandom(10 * MiB)
        uid = self.created(length=len(data))
        old = self.open_patch(uid, 0, len(data), data[:MiB])
        # HEAD does not wait for the old writer (whose client neither sends nor closes): it
        # ends it, and answers within PROMPT, below the idle timeout that would end it otherwise
        r = self.head(uid)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(int(r.get("Upload-Offset")), MiB, r)
        self.assert_closed_by_server(old)
        try:  # a stopped writer's late bytes must not land (its connection is closed: they can't)
            old.sendall(b"\x00" * 65536)
        except OSError:
            pass
        self.assertEqual(self.offset_of(uid), MiB)
        r = self.patch(uid, 0, data[:10])
        self.assert_error(r, 409)
        self.assertEqual(r.get("Upload-Offset"), str(MiB), r)
        r = self.patch(uid, MiB, data[MiB:])
        self.assertEqual((r.status, r.get("Upload-Offset")), (204, str(len(data))), r)
        self.assertEqual(r.get("Sluice-File"), "/files/" + uid, r)
        self.assertEqual(hashlib.sha256(self.read_root(uid)).digest(), hashlib.sha256(data).digest())

    def test_patch_stops_old_writer(self):
        data = os.urandom(4 * MiB)
        uid = self.created(length=len(data))
        old = self.open_patch(uid, 0, len(data), data[:MiB // 2])
        r = self.patch(uid, 0, data[:10])  # stale: the old writer's bytes were kept
        self.assert_error(r, 409)
        self.assertEqual(r.get("Upload-Offset"), str(MiB // 2), r)
        self.assert_closed_by_server(old)
        r = self.patch(uid, MiB // 2, data[MiB // 2:])
        self.assertEqual((r.status, r.get("Sluice-File")), (204, "/files/" + uid), r)
        self.assertEqual(self.read_root(uid), data)

    def test_delete_stops_old_writer(self):
        uid = self.created(length=4 * MiB)
        old = self.open_patch(uid, 0, 4 * MiB, b"z" * (MiB // 4))
        r = self.delete(uid)
        self.assertEqual(r.status, 204, r)
        self.assert_closed_by_server(old)
        self.wait_gone(uid)
        self.assert_error(self.head(uid), 404, "HEAD")
        self.assertEqual(self.srv.final_files(), [])


class CreationWithUpload(TusTest):
    def test_first_chunk_in_post(self):
        r = self.create(length=11, body=b"hello", meta="filename " + b64("hello.txt"))
        self.assertEqual(r.status, 201, r)
        uid = LOC_RE.match(r.get("Location") or "").group(1)
        self.assertEqual(r.get("Upload-Offset"), "5", r)
        self.assertFalse(r.has("Sluice-File"), r)
        self.assertEqual(self.offset_of(uid), 5)
        r = self.patch(uid, 5, b" world")
        self.assertEqual((r.status, r.get("Sluice-File")), (204, "/files/hello.txt"), r)
        self.assertEqual(self.read_root("hello.txt"), b"hello world")

    def test_whole_body_in_post_completes(self):
        data = os.urandom(70000)
        r = self.create(length=len(data), body=data)
        self.assertEqual(r.status, 201, r)
        uid = LOC_RE.match(r.get("Location") or "").group(1)
        self.assertEqual(r.get("Upload-Offset"), str(len(data)), r)
        if r.has("Sluice-File"):
            self.assertEqual(r.get("Sluice-File"), "/files/" + uid, r)
        h = self.head(uid)
        self.assertEqual((h.get("Upload-Offset"), h.get("Sluice-File")),
                         (str(len(data)), "/files/" + uid), h)
        self.assertEqual(self.read_root(uid), data)

    def test_chunked_and_deferred_bodies(self):
        r = self.req("POST", "/uploads/", [("Upload-Length", "10"), ("Content-Type", OCT)],
                     chunks=[b"abc", b"def"])
        self.assertEqual((r.status, r.get("Upload-Offset")), (201, "6"), r)
        uid = LOC_RE.match(r.get("Location")).group(1)
        self.assertEqual(self.offset_of(uid), 6)
        r = self.create(defer=True, body=b"xyz")
        self.assertEqual((r.status, r.get("Upload-Offset")), (201, "3"), r)
        uid = LOC_RE.match(r.get("Location")).group(1)
        self.assertEqual(self.head(uid).get("Upload-Defer-Length"), "1")

    def test_wrong_content_type_415(self):
        for ct in ("text/plain", "application/octet-stream", None, "application/x-www-form-urlencoded"):
            with self.subTest(ctype=ct):
                h = [("Upload-Length", "5")] + ([("Content-Type", ct)] if ct else [])
                r = self.req("POST", "/uploads/", h, b"abcde")
                self.assert_error(r, 415)
                self.assertFalse(r.has("Location"), r)
        self.assertEqual(self.info_count(), 0)
        self.assertEqual(self.srv.final_files(), [])

    def test_body_past_length_refused(self):
        r = self.create(length=3, body=b"abcde")
        self.assert_error(r, (400, 413))
        self.assertEqual(self.info_count(), 0)
        self.assertEqual(self.srv.final_files(), [])


class Checksum(TusTest):
    def test_each_algorithm(self):
        for alg in ("sha1", "sha256", "md5", "crc32"):
            with self.subTest(alg=alg):
                uid = self.created(length=6)
                r = self.patch(uid, 0, b"abc", headers=[("Upload-Checksum", checksum(alg, b"abc"))])
                self.assertEqual((r.status, r.get("Upload-Offset")), (204, "3"), r)
                r = self.patch(uid, 3, chunks=[b"d", b"ef"],
                               headers=[("Upload-Checksum", checksum(alg, b"def"))])
                self.assertEqual((r.status, r.get("Upload-Offset")), (204, "6"), r)
                self.assertEqual(r.get("Sluice-File"), "/files/" + uid, r)
                self.assertEqual(self.read_root(uid), b"abcdef")
        for data in (CRC_LOW, CRC_HIGH):
            with self.subTest(crc32=hex(zlib.crc32(data))):
                uid = self.created(length=len(data))
                r = self.patch(uid, 0, data, headers=[("Upload-Checksum", checksum("crc32", data))])
                self.assertEqual(r.status, 204, r)

    def test_a_large_mismatched_patch_counts_nothing(self):
        # Big enough that its bytes reach the disk before the digest is compared at the end.
        body = os.urandom(8 << 20)
        uid = self.created(length=len(body))
        r = self.patch(uid, 0, body, headers=[("Upload-Checksum", checksum("sha256", b"other"))])
        self.assert_error(r, 460)
        self.assertEqual(self.offset_of(uid), 0)
        r = self.patch(uid, 0, body, headers=[("Upload-Checksum", checksum("sha256", body))])
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.read_root(uid), body)
        os.unlink(os.path.join(self.root, uid))

    def test_mismatch_460_discards(self):
        for alg in ("sha1", "sha256", "md5", "crc32"):
            with self.subTest(alg=alg):
                uid = self.created(length=6)
                r = self.patch(uid, 0, b"abc", headers=[("Upload-Checksum", checksum(alg, b"abd"))])
                self.assert_error(r, 460)
                self.assertEqual(self.offset_of(uid), 0)
                r = self.patch(uid, 0, b"abc", headers=[("Upload-Checksum", checksum(alg, b"abc"))])
                self.assertEqual((r.status, r.get("Upload-Offset")), (204, "3"), r)
                # A wrong checksum on the completing PATCH commits nothing.
                r = self.patch(uid, 3, b"def", headers=[("Upload-Checksum", checksum(alg, b"xyz"))])
                self.assert_error(r, 460)
                self.assertFalse(r.has("Sluice-File"), r)
                self.assertEqual(self.offset_of(uid), 3)
                self.assertEqual(self.srv.final_files(), [])
                r = self.patch(uid, 3, b"def", headers=[("Upload-Checksum", checksum(alg, b"def"))])
                self.assertEqual((r.status, r.get("Sluice-File")), (204, "/files/" + uid), r)
                self.assertEqual(self.read_root(uid), b"abcdef")
                os.unlink(os.path.join(self.root, uid))

    def test_bad_checksum_400(self):
        uid = self.created(length=6)
        good = b64(hashlib.sha1(b"abc").digest())
        for value in ("sha512 " + b64(hashlib.sha512(b"abc").digest()), "foo " + good,
                      "sha1", "sha1 ", "SHA-1 " + good, "sha1 !!!" + good, "sha1 YQ=",
                      "sha1 " + good + " extra", ""):
            with self.subTest(value=value):
                r = self.patch(uid, 0, b"abc", headers=[("Upload-Checksum", value)])
                self.assert_error(r, 400)
                self.assertEqual(self.offset_of(uid), 0)
        # A well-formed base64 digest of the wrong size: malformed (400) or a mismatch (460).
        r = self.patch(uid, 0, b"abc", headers=[("Upload-Checksum", "sha1 " + b64(b"abcd"))])
        self.assert_error(r, (400, 460))
        self.assertEqual(self.offset_of(uid), 0)

    def test_dropped_connection_with_checksum_keeps_nothing(self):
        for with_sum in (True, False):
            with self.subTest(checksum=with_sum):
                uid = self.created(length=100)
                m = self.srv.metrics()
                received = sum(v for (n, _), v in m.items() if n == "sluice_received_bytes_total")
                gone = sum(v for (n, lab), v in m.items() if n == "sluice_uploads_failed_total"
                           and ("reason", "client_gone") in lab)
                s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=PROMPT)
                extra = ("Upload-Checksum: %s\r\n" % checksum("sha1", b"a" * 100)).encode() if with_sum else b""
                s.sendall(b"PATCH /uploads/%s HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n"
                          b"Upload-Offset: 0\r\nContent-Type: %s\r\nContent-Length: 100\r\n%s\r\n"
                          % (uid.encode(), OCT.encode(), extra) + b"a" * 50)
                wait_until(lambda: self.srv.metric("sluice_received_bytes_total") == received + 50,
                           "the server to have the 50 bytes")
                s.close()
                if with_sum:  # the PATCH fails (client gone) and keeps nothing
                    wait_until(lambda: self.srv.metric("sluice_uploads_failed_total",
                                                       reason="client_gone") == gone + 1,
                               "the checksum PATCH to fail as client_gone")
                    self.assertEqual(self.offset_of(uid), 0)
                else:  # resumable: the PATCH ends, and what arrived counts
                    wait_until(lambda: self.offset_of(uid) == 50, "offset 50")
                    self.assertEqual(self.srv.metric("sluice_uploads_failed_total",
                                                     reason="client_gone"), gone)

    def test_trailer(self):
        hdr = [("Trailer", "Upload-Checksum")]
        for alg in ("sha1", "crc32", "sha256"):
            with self.subTest(alg=alg):
                uid = self.created(length=11)
                r = self.patch(uid, 0, chunks=[b"hello", b" "], headers=hdr,
                               trailers=["Upload-Checksum: " + checksum(alg, b"hello ")])
                self.assertEqual((r.status, r.get("Upload-Offset")), (204, "6"), r)
                r = self.patch(uid, 6, chunks=[b"wor", b"ld"], headers=hdr,
                               trailers=["Upload-Checksum: " + checksum(alg, b"WORLD")])
                self.assert_error(r, 460)
                self.assertEqual(self.offset_of(uid), 6)
                r = self.patch(uid, 6, chunks=[b"wor", b"ld"], headers=hdr,
                               trailers=["Upload-Checksum: " + checksum(alg, b"world")])
                self.assertEqual((r.status, r.get("Sluice-File")), (204, "/files/" + uid), r)
                self.assertEqual(self.read_root(uid), b"hello world")
        uid = self.created(length=3)
        r = self.patch(uid, 0, chunks=[b"abc"], headers=hdr, trailers=["Upload-Checksum: nope abc"])
        self.assert_error(r, 400)
        self.assertEqual(self.offset_of(uid), 0)


class Concatenation(TusTest):
    def partial(self, data):
        uid = self.created(length=len(data), concat="partial")
        if data:
            r = self.patch(uid, 0, data)
            self.assertEqual((r.status, r.get("Upload-Offset")), (204, str(len(data))), r)
            self.assertFalse(r.has("Sluice-File"), "a partial upload was committed: %r" % r)
        h = self.head(uid)
        self.assertEqual(h.get("Upload-Concat"), "partial", h)
        return uid

    def check_final(self, r, parts, whole, name):
        self.assertEqual(r.status, 201, r)
        fid = LOC_RE.match(r.get("Location") or "").group(1)
        self.assertEqual(r.get("Sluice-File"), "/files/" + (name or fid), r)
        h = self.head(fid)
        self.assertEqual(h.status, 200, h)
        concat = h.get("Upload-Concat") or ""
        self.assertTrue(concat.startswith("final;"), h)
        self.assertEqual(re.findall(r"[0-9a-f]{32}", concat), parts, h)
        self.assertEqual((h.get("Upload-Offset"), h.get("Upload-Length")),
                         (str(len(whole)), str(len(whole))), h)
        self.assertEqual(h.get("Sluice-File"), "/files/" + (name or fid), h)
        self.assertEqual(self.read_root(name or fid), whole)
        for p in parts:
            self.assert_error(self.head(p), 404, "HEAD")
            self.wait_gone(p)
        for off in (0, len(whole)):
            self.assert_error(self.patch(fid, off, b"x"), 403)
        self.assertEqual(self.read_root(name or fid), whole)
        return fid

    def test_final_relative(self):
        a, b = self.partial(b"hello "), self.partial(b"world")
        self.assertEqual(self.srv.final_files(), [])
        r = self.create(concat="final;/uploads/%s /uploads/%s" % (a, b),
                        meta="filename " + b64("joined.txt"))
        self.check_final(r, [a, b], b"hello world", "joined.txt")
        self.assertEqual(self.srv.final_files(), ["joined.txt"])

    def test_final_absolute_with_empty_part(self):
        data = os.urandom(200000)
        a, e, c = self.partial(data[:123457]), self.partial(b""), self.partial(data[123457:])
        self.assertEqual(self.srv.final_files(), [])
        base = "http://127.0.0.1:%d" % self.srv.port
        r = self.create(concat="final;%s/uploads/%s %s/uploads/%s %s/uploads/%s" % (base, a, base, e, base, c))
        fid = self.check_final(r, [a, e, c], data, None)
        self.assertEqual(self.srv.final_files(), [fid])

    def test_final_errors(self):
        a = self.partial(b"abc")
        unfinished = self.created(length=5, concat="partial")
        self.assertEqual(self.patch(unfinished, 0, b"de").status, 204)
        plain, _ = self.upload(b"xyz", pieces=1)
        infos = self.info_count()
        A = "/uploads/" + a
        cases = [[("Upload-Concat", "final;%s /uploads/%s" % (A, unfinished))],
                 [("Upload-Concat", "final;%s /uploads/%s" % (A, plain))],
                 [("Upload-Concat", "final;%s /uploads/%s" % (A, "0" * 32))],
                 [("Upload-Concat", "final;%s" % A), ("Upload-Length", "3")],
                 [("Upload-Concat", "final;%s" % A), ("Upload-Defer-Length", "1")]]
        for garbage in ("final;", "final", "final; ", "partial;" + A, "foo", "final;/uploads/zzz",
                        "final;/files/" + a, "final;%s/x" % A, "final;%s,%s" % (A, A),
                        "final:%s" % A):
            cases.append([("Upload-Concat", garbage)])
        for hdrs in cases:
            with self.subTest(headers=hdrs):
                r = self.req("POST", "/uploads/", hdrs)
                self.assert_error(r, 400)
                self.assertFalse(r.has("Location"), r)
        # A body on a final upload is 403.
        r = self.req("POST", "/uploads/", [("Upload-Concat", "final;%s" % A), ("Content-Type", OCT)], b"x")
        self.assert_error(r, 403)
        self.assertEqual(self.info_count(), infos)
        # The parts survived the refusals: finish one and concatenate.
        self.assertEqual(self.patch(unfinished, 2, b"fgh").status, 204)
        r = self.create(concat="final;%s /uploads/%s" % (A, unfinished))
        self.check_final(r, [a, unfinished], b"abcdefgh", None)
        self.assertEqual(self.read_root(plain), b"xyz")


class Expiration(TusTest):
    server_args = ("--tus-expire", "2")

    def assert_expires(self, r, t0, t1):
        """Upload-Expires is --tus-expire (2 s) after the server's clock (whole seconds) read
        between t0 and t1, around the request: bounds from the order of events."""
        e = expires_at(r)
        self.assertTrue(int(t0) + 2 <= e <= t1 + 2, (r, t0, t1))
        return e

    def test_expires(self):
        t0 = time.time()
        r = self.create(length=10)
        self.assertEqual(r.status, 201, r)
        uid = LOC_RE.match(r.get("Location")).group(1)
        e_uid = self.assert_expires(r, t0, time.time())
        r = self.head(uid)  # at once: it lives 2 s, and what follows fsyncs (slow on a busy disk)
        self.assertEqual(r.status, 200, r)
        expires_at(r)
        done = self.created(length=0, meta="filename " + b64("kept.txt"))
        self.assertEqual(self.read_root("kept.txt"), b"")
        part = self.created(length=10)
        t1 = time.time()
        r = self.patch(part, 0, b"abc")
        self.assertEqual(r.status, 204, r)
        self.assert_expires(r, t1, time.time())
        wait_until(lambda: self.head(uid).status == 404, "the expired upload to go")
        gone_seen = time.time()
        self.assert_error(self.head(uid), 404, "HEAD")
        # the sweep removes a record once its expiry is past on the server's clock: never before
        self.assertGreaterEqual(gone_seen, e_uid, "expired too early")
        self.assert_error(self.patch(uid, 0, b"abc"), 404)
        for u in (uid, done, part):
            self.wait_gone(u)
            self.assert_error(self.head(u), 404, "HEAD")
        self.assertEqual(self.read_root("kept.txt"), b"")  # the committed file stays
        self.assertEqual(self.srv.final_files(), ["kept.txt"])


class ExpirationRefresh(TusTest):
    server_args = ("--tus-expire", "3")

    def test_patch_pushes_expiry(self):
        """a and b are created together; b gets a byte every 0.2 s (the client's pace: it only
        has to stay under the 3 s expiry) until a, never touched, has expired and gone. b, whose
        PATCHes pushed its expiry, is still there; left alone, it goes too."""
        r = self.create(length=10)
        a = LOC_RE.match(r.get("Location")).group(1)
        e_a = expires_at(r)
        b = self.created(length=1000)
        off, e_b = 0, 0
        deadline = time.monotonic() + LIMIT
        while self.head(a).status == 200:
            self.assertLess(time.monotonic(), deadline, "a never expired")
            r = self.patch(b, off, b"x")
            self.assertEqual(r.status, 204, r)
            off, e_b = off + 1, expires_at(r)
            time.sleep(0.2)
        self.assert_error(self.head(a), 404, "HEAD")
        self.assertGreaterEqual(e_b, e_a + 1, (e_a, e_b))
        r = self.head(b)
        self.assertEqual(r.status, 200, "a PATCH did not push the expiry back")
        self.assertEqual(r.get("Upload-Offset"), str(off), r)
        self.wait_gone(a)
        wait_until(lambda: self.head(b).status == 404, "b to expire once left alone")
        self.wait_gone(b)


PREFLIGHT_HEADERS = ["tus-resumable", "upload-offset", "upload-length", "upload-metadata",
                     "upload-defer-length", "upload-concat", "upload-checksum", "content-type",
                     "x-http-method-override"]
EXPOSED = ["location", "sluice-file", "upload-offset", "upload-length", "upload-metadata",
           "upload-defer-length", "upload-concat", "upload-expires", "tus-resumable", "tus-version",
           "tus-extension", "tus-max-size", "tus-checksum-algorithm"]
ORIGIN = "http://example.test"


class Cors(TusTest):
    server_args = ("--cors-origin", ORIGIN)

    def preflight(self, path, origin, method="PATCH"):
        return self.req("OPTIONS", path, [("Origin", origin), ("Access-Control-Request-Method", method),
                                          ("Access-Control-Request-Headers", ",".join(PREFLIGHT_HEADERS))],
                        tus=False)

    def assert_exposed(self, r):
        self.assertEqual(r.get("Access-Control-Allow-Origin"), ORIGIN, r)
        exposed = tokens(r.get("Access-Control-Expose-Headers"))
        if "*" not in exposed:
            self.assertEqual([h for h in EXPOSED if h not in exposed], [], r)

    def test_preflight(self):
        uid = self.created(length=5)
        for path in ("/uploads/", "/uploads/" + uid):
            for method in ("POST", "PATCH", "HEAD", "DELETE"):
                with self.subTest(path=path, method=method):
                    r = self.preflight(path, ORIGIN, method)
                    self.assertEqual(r.status, 204, r)
                    self.assertEqual(r.get("Access-Control-Allow-Origin"), ORIGIN, r)
                    self.assertIn(method.lower(), tokens(r.get("Access-Control-Allow-Methods")), r)
                    allowed = tokens(r.get("Access-Control-Allow-Headers"))
                    if "*" not in allowed:
                        self.assertEqual([h for h in PREFLIGHT_HEADERS if h not in allowed], [], r)
        self.assertEqual(self.offset_of(uid), 0)

    def test_responses_expose_tus_headers(self):
        o = [("Origin", ORIGIN)]
        r = self.create(length=5, headers=o)
        self.assertEqual(r.status, 201, r)
        self.assert_exposed(r)
        uid = LOC_RE.match(r.get("Location")).group(1)
        r = self.head(uid, headers=o)
        self.assert_exposed(r)
        r = self.patch(uid, 3, b"x", headers=o)
        self.assertEqual(r.status, 409, r)
        self.assert_exposed(r)
        r = self.patch(uid, 0, b"abcde", headers=o)
        self.assertEqual(r.status, 204, r)
        self.assertTrue(r.has("Sluice-File"), r)
        self.assert_exposed(r)
        r = self.req("OPTIONS", "/uploads/", o, tus=False)
        self.assertEqual(r.get("Access-Control-Allow-Origin"), ORIGIN, r)

    def test_other_origins_get_nothing(self):
        for origin in ("http://evil.test", "http://example.test.evil", "http://example.test:8080",
                       "https://example.test", "null"):
            with self.subTest(origin=origin):
                r = self.preflight("/uploads/", origin)
                self.assertFalse(r.has("Access-Control-Allow-Origin"), r)
                r = self.create(length=5, headers=[("Origin", origin)])
                self.assertFalse(r.has("Access-Control-Allow-Origin"), r)


class CorsMany(TusTest):
    server_args = ("--cors-origin", "http://a.test", "--cors-origin", "http://b.test")

    def test_each_listed_origin(self):
        for origin in ("http://a.test", "http://b.test"):
            r = self.create(length=1, headers=[("Origin", origin)])
            self.assertEqual(r.get("Access-Control-Allow-Origin"), origin, r)
        r = self.create(length=1, headers=[("Origin", "http://c.test")])
        self.assertFalse(r.has("Access-Control-Allow-Origin"), r)


class CorsStar(TusTest):
    server_args = ("--cors-origin", "*")

    def test_any_origin(self):
        r = self.create(length=1, headers=[("Origin", "http://anything.test")])
        self.assertIn(r.get("Access-Control-Allow-Origin"), ("*", "http://anything.test"), r)


class NoCors(TusTest):
    def test_no_cors_headers_by_default(self):
        r = self.create(length=1, headers=[("Origin", ORIGIN)])
        self.assertEqual(r.status, 201, r)
        self.assertFalse(r.has("Access-Control-Allow-Origin"), r)


if __name__ == "__main__":
    unittest.main()
