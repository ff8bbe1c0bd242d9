#!/usr/bin/env python3
"""Reproductions from a review of the tus implementation (server/proto/tus.c, tus_lock.c, upload.c,
storage/tus.c). Each test states the behaviour docs/tus.md promises and fails while the bug it
names is present. Raw sockets, every wait bounded.

Run: SLUICE_BIN=build/sluice python3 -m unittest tests/integration/test_tus_review.py -v
"""
import base64
import hashlib
import os
import re
import signal
import socket
import struct
import sys
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LIMIT, Server, ServerTest, read_until_done, status_of,  # noqa: E402
                     tus_record, wait_until)

OCT = "application/offset+octet-stream"


def b64(b):
    return base64.b64encode(b).decode()


def send(port, head, body=b"", timeout=LIMIT):
    """One request on its own connection (Connection: close); returns (status, headers, how)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(head.encode("latin-1") + body)
        buf, how = read_until_done(s, timeout)
    finally:
        s.close()
    return status_of(buf), headers_of(buf), how


def headers_of(buf):
    heads = [h for h in re.split(rb"\r\n\r\n", buf) if h.startswith(b"HTTP/1.1 ") and
             not h.startswith(b"HTTP/1.1 100")]
    out = {}
    if heads:
        for line in heads[-1].split(b"\r\n")[1:]:
            k, _, v = line.decode("latin-1").partition(":")
            out[k.strip().lower()] = v.strip()
    return out


def req(method, path, extra="", length=None):
    h = f"{method} {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nConnection: close\r\n"
    if length is not None:
        h += f"Content-Length: {length}\r\n"
    return h + extra + "\r\n"


class TusReviewTest(ServerTest):

    def create(self, extra="Upload-Length: 1000\r\n"):
        st, hs, _ = send(self.srv.port, req("POST", "/uploads/", extra))
        self.assertEqual(st, 201, hs)
        return hs["location"]

    def head(self, loc, port=None):
        s = socket.create_connection(("127.0.0.1", port or self.srv.port), timeout=10)
        try:
            s.sendall(req("HEAD", loc).encode())
            buf = b""
            while b"\r\n\r\n" not in buf:
                d = s.recv(65536)
                if not d:
                    break
                buf += d
        finally:
            s.close()
        return status_of(buf), headers_of(buf)

    def healthy(self):
        st, _, _ = send(self.srv.port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(st, 200, "server gone: " + self.srv.output()[-2000:])

    # tus.c sl__tus_first: every request with a body that is not a POST takes a PATCH turn, on
    # r->name; under /uploads/ that name is "" and bucket("") indexes srv->tus[272].
    # OPTIONS answers the tus discovery (204, Tus-Version) whatever body it carries.
    def test_options_with_body_on_collection(self):
        st, hs, how = send(self.srv.port,
                           "OPTIONS /uploads/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                           "Connection: close\r\n\r\n", b"hello")
        self.healthy()
        self.assertEqual(st, 204, (how, hs))
        self.assertEqual(hs.get("tus-version"), "1.0.0", hs)

    def test_method_override_options_with_body(self):
        st, hs, how = send(self.srv.port, req("POST", "/uploads/", "X-HTTP-Method-Override: OPTIONS\r\n"
                                              f"Content-Type: {OCT}\r\nUpload-Length: 5\r\n", 5),
                           b"hello")
        self.healthy()
        self.assertEqual(st, 204, (how, hs))
        self.assertEqual(hs.get("tus-version"), "1.0.0", hs)

    # Same root cause: a DELETE (or HEAD) that carries a body is run as a PATCH: 409. A DELETE
    # terminates the upload (204, then 404), body or not.
    def test_delete_with_body_deletes(self):
        loc = self.create()
        st, hs, how = send(self.srv.port, req("DELETE", loc, length=2), b"hi")
        self.assertEqual(st, 204, (how, hs))
        st, hs = self.head(loc)
        self.assertEqual(st, 404, hs)

    # tus_lock.c sl__tus_tick checkpoints when !check_alg, but a checksum-trailer PATCH has
    # check_alg 0 until its trailer: its bytes are recorded before they are verified.
    def test_trailer_checksum_patch_is_all_or_nothing(self):
        loc = self.create("Upload-Length: 100000\r\n")
        # A positive control on the same server: a plain PATCH held open. Its record moves once a
        # tick checkpoints it; the trailer PATCH's record must not.
        ctl = self.create("Upload-Length: 100000\r\n")
        uid, cid = loc.rsplit("/", 1)[1], ctl.rsplit("/", 1)[1]
        data = os.path.join(self.srv.root, ".sluice", "tus", uid + ".data")
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=30)
        c = socket.create_connection(("127.0.0.1", self.srv.port), timeout=30)
        try:
            s.sendall(req("PATCH", loc, f"Upload-Offset: 0\r\nContent-Type: {OCT}\r\n"
                          "Transfer-Encoding: chunked\r\nTrailer: Upload-Checksum\r\n").encode())
            s.sendall(b"3e8\r\n" + b"a" * 1000 + b"\r\n")
            wait_until(lambda: os.path.getsize(data) == 1000, "the trailer PATCH's 1000 bytes on disk")
            # Two checkpoints of the control after that: at least one whole tick ran with the
            # trailer PATCH's bytes written (a tick visits every open PATCH in one pass).
            c.sendall(req("PATCH", ctl, f"Upload-Offset: 0\r\nContent-Type: {OCT}\r\n",
                          100000).encode() + b"c" * 10)
            wait_until(lambda: (tus_record(self.srv.root, cid) or {}).get("offset", 0) > 0,
                       "a checkpoint of the control PATCH")
            c.sendall(b"c" * 10)
            wait_until(lambda: (tus_record(self.srv.root, cid) or {}).get("offset", 0) > 10,
                       "a second checkpoint of the control PATCH")
            self.assertEqual(tus_record(self.srv.root, uid)["offset"], 0,
                             "a tick recorded the unverified bytes of a trailer PATCH")
            wrong = b64(hashlib.sha1(b"not this").digest()).encode()
            s.sendall(b"0\r\nUpload-Checksum: sha1 " + wrong + b"\r\n\r\n")
            buf, _ = read_until_done(s, 30)
        finally:
            s.close()
            c.close()
        self.assertEqual(status_of(buf), 460)
        st, hs = self.head(loc)
        self.assertEqual(hs.get("upload-offset"), "0", "a 460 PATCH moved the offset")

    # tus.c check(): the first errors (bad id, version, method, Transfer-Encoding) return before
    # `body` is set, so the first call queues nothing: 100 Continue and the whole body is read
    # (unbounded, routes.c "a body nobody asked for"), and an unsupported Transfer-Encoding hangs.
    # "At once": the 501 comes while the connection is still open for more (the client never
    # ends the body; an answer that waited for it would come at the idle timeout, 60 s, after
    # the 30 s this exchange waits at most).
    def test_unsupported_transfer_encoding_refused_at_once(self):
        loc = self.create()
        st, _, how = send(self.srv.port, req("PATCH", loc, f"Upload-Offset: 0\r\nContent-Type: {OCT}\r\n"
                                            "Transfer-Encoding: gzip\r\n"), b"hello", timeout=30)
        self.assertEqual(st, 501, how)
        self.assertEqual(how, "response")
        self.assertEqual(self.srv.metric("sluice_uploads_failed_total", reason="idle"), 0)

    def test_bad_version_refused_before_the_body(self):
        loc = self.create()
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=5)
        try:
            s.sendall((f"PATCH {loc} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 0.2.2\r\n"
                       f"Upload-Offset: 0\r\nContent-Type: {OCT}\r\nContent-Length: 1000000\r\n"
                       "Expect: 100-continue\r\n\r\n").encode())
            first = s.recv(200)
        finally:
            s.close()
        self.assertTrue(first.startswith(b"HTTP/1.1 412"), first[:40])

    # tus.c:304 in->offset + r->content_length wraps: the 413 before the body is skipped.
    def test_content_length_overflow_refused_before_the_body(self):
        srv = Server("--max-size", "1000").start()
        try:
            st, hs, _ = send(srv.port, req("POST", "/uploads/", "Upload-Defer-Length: 1\r\n"))
            loc = hs["location"]
            st, _, _ = send(srv.port, req("PATCH", loc, f"Upload-Offset: 0\r\nContent-Type: {OCT}\r\n", 10),
                            b"x" * 10)
            self.assertEqual(st, 204)
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            try:
                s.sendall(req("PATCH", loc, f"Upload-Offset: 10\r\nContent-Type: {OCT}\r\n"
                              "Expect: 100-continue\r\n", 2 ** 64 - 5).encode())
                first = s.recv(200)
            finally:
                s.close()
            self.assertTrue(first.startswith(b"HTTP/1.1 413"), first[:40])
        finally:
            srv.stop()

    # tus.c sl__tus_body_start wants SHA-1 for a trailer; xf_digest holds one extra algorithm, so
    # an md5 trailer cannot be expected at the end: 400 for a correct checksum.
    def test_md5_trailer(self):
        data = b"hello world"
        loc = self.create(f"Upload-Length: {len(data)}\r\n")
        body = b"%x\r\n" % len(data) + data + b"\r\n0\r\nUpload-Checksum: md5 " + \
            b64(hashlib.md5(data).digest()).encode() + b"\r\n\r\n"
        st, _, _ = send(self.srv.port, req("PATCH", loc, f"Upload-Offset: 0\r\nContent-Type: {OCT}\r\n"
                                          "Transfer-Encoding: chunked\r\nTrailer: Upload-Checksum\r\n"), body)
        self.assertEqual(st, 204)

    # tus.c patch_checks sets in->length before the PATCH is accepted: a refused PATCH leaves its
    # Upload-Length in memory, where a HEAD queued behind it reads it (the record says deferred).
    def test_refused_patch_does_not_set_the_length(self):
        port = self.srv.port
        for _ in range(10):
            st, hs, _ = send(port, req("POST", "/uploads/", "Upload-Defer-Length: 1\r\n"))
            loc = hs["location"]
            a = socket.create_connection(("127.0.0.1", port), timeout=10)
            b = socket.create_connection(("127.0.0.1", port), timeout=10)
            try:
                a.sendall((req("PATCH", loc, f"Upload-Offset: 0\r\nUpload-Length: 3\r\n"
                               f"Content-Type: {OCT}\r\n", 5)).encode() + b"hello")
                b.sendall(req("HEAD", loc).encode())
                ra, _ = read_until_done(a, 10)
                rb = b""
                while b"\r\n\r\n" not in rb:
                    d = b.recv(65536)
                    if not d:
                        break
                    rb += d
            finally:
                a.close()
                b.close()
            self.assertEqual(status_of(ra), 413)
            self.assertIsNone(headers_of(rb).get("upload-length"),
                              "HEAD reports the length of a refused PATCH")


class TusReviewCrashTest(unittest.TestCase):
    # tus_lock.c checkpoint(): it records offset == length without committing. After a kill -9
    # the upload reads as complete (HEAD: offset == length), no Sluice-File, nothing in ROOT, and
    # a client that trusts HEAD never sends the PATCH that would commit it.
    def test_checkpoint_at_full_length_then_crash(self):
        srv = Server().start()
        root = srv.root
        try:
            st, hs, _ = send(srv.port, req("POST", "/uploads/", "Upload-Length: 1000\r\n"
                                           "Upload-Metadata: filename " + b64(b"done.txt") + "\r\n"))
            loc = hs["location"]
            uid = loc.rsplit("/", 1)[1]
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            s.sendall(req("PATCH", loc, f"Upload-Offset: 0\r\nContent-Type: {OCT}\r\n"
                          "Transfer-Encoding: chunked\r\n").encode() + b"3e8\r\n" + b"d" * 1000 + b"\r\n")
            # all bytes written, the terminating chunk not sent yet: wait for a tick's checkpoint
            wait_until(lambda: (tus_record(root, uid) or {}).get("offset", 0) > 0,
                       "a checkpoint of the open PATCH")
            srv.proc.send_signal(signal.SIGKILL)
            srv.proc.wait(10)
            s.close()
            srv2 = Server(root=root).start()
            try:
                sk = socket.create_connection(("127.0.0.1", srv2.port), timeout=10)
                sk.sendall(req("HEAD", loc).encode())
                buf = b""
                while b"\r\n\r\n" not in buf:
                    d = sk.recv(65536)
                    if not d:
                        break
                    buf += d
                sk.close()
                hs = headers_of(buf)
                complete = hs.get("upload-offset") == hs.get("upload-length")
                self.assertFalse(complete and not hs.get("sluice-file"),
                                 "HEAD says complete, but the upload was never committed: %s" % hs)
            finally:
                srv2.stop()
        finally:
            srv.own_root = True
            srv.stop()


if __name__ == "__main__":
    unittest.main()
