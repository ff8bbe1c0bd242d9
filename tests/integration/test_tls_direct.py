#!/usr/bin/env python3
"""HTTPS bodies read by sluice through the connection's TLS session (server/http/src_sock.c,
tls.c): after libmicrohttpd's first piece of a body, sluice decrypts the rest itself, reading the
socket ahead of GnuTLS for a fast client but never past the body's records, and writes the answer
through the session. Each case checks the bytes stored (or that nothing is), the whole answer,
and that the server goes on serving.

Run: SLUICE_BIN=build/sluice python3 tests/integration/test_tls_direct.py -v
"""
import base64
import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LIMIT, Server, ServerTest, parse_metrics, read_response,  # noqa: E402
                     send_until_read, wait_until)
from test_tls import make_cert  # noqa: E402

MiB = 1 << 20


class TlsDirectRead(ServerTest):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sluice-tls-direct-")
        self.crt, self.key = make_cert(self.dir, "server")
        self.srv = Server("--tls-cert", self.crt, "--tls-key", self.key).start()
        self.base = "https://localhost:%d" % self.srv.port
        self.data = os.urandom(9 * MiB + 123)
        self.path = os.path.join(self.dir, "data")
        with open(self.path, "wb") as f:
            f.write(self.data)
        self.ctx = ssl.create_default_context(cafile=self.crt)

    def tearDown(self):
        try:
            super().tearDown()  # stopped, exit status 0, no sanitizer report in its output
        finally:
            subprocess.run(["rm", "-rf", self.dir])

    def metric(self, name):
        p = subprocess.run(["curl", "-sS", "--cacert", self.crt, self.base + "/metrics"],
                           capture_output=True, timeout=LIMIT)
        return int(sum(v for (n, _), v in parse_metrics(p.stdout.decode()).items() if n == name))

    def curl_put(self, name, *extra):
        p = subprocess.run(["curl", "-sS", "--cacert", self.crt, "-T", self.path, "-w",
                            "\n%{http_code}", *extra, self.base + "/files/" + name],
                           capture_output=True, timeout=2 * LIMIT)
        body, _, code = p.stdout.decode().rpartition("\n")
        return int(code), body

    def stored(self, name):
        with open(os.path.join(self.srv.root, name), "rb") as f:
            return f.read()

    def assert_gone(self, name):
        wait_until(lambda: not self.srv.tmp_files(),
                   lambda: "the temp files to go: %s" % self.srv.tmp_files())
        self.assertFalse(os.path.exists(os.path.join(self.srv.root, name)))

    def connect(self):
        raw = socket.create_connection(("127.0.0.1", self.srv.port), timeout=30)
        return self.ctx.wrap_socket(raw, server_hostname="localhost")

    def received(self):
        return self.metric("sluice_received_bytes_total")

    def first_piece(self, s, data, n):
        """Send the header and a body's first n bytes, and wait until libmicrohttpd has handed
        them to the handler, which then takes the rest over."""
        send_until_read(s, data, self.received, self.received() + n, "the first piece")

    def slow_mid(self, head, body, first=1000):
        """The header and `first` body bytes, read on their own (libmicrohttpd hands them to
        the handler, which takes the rest over), the rest; the whole answer and what followed."""
        s = self.connect()
        try:
            self.first_piece(s, head + body[:first], first)
            s.sendall(body[first:])
            resp = read_response(s, timeout=30, read_all=False)
            after = s.recv(16)  # the stream's end, with a close_notify: no error
        finally:
            s.close()
        return resp, after

    def assert_answer(self, resp, status):
        """An answer written by sluice through the session: headers and a JSON body."""
        head, _, rest = resp.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.assertEqual(lines[0].split(" ")[1], str(status), resp[:300])
        h = {k.lower(): v for k, _, v in (x.partition(": ") for x in lines[1:])}
        self.assertEqual(h["connection"], "close")
        self.assertEqual(int(h["content-length"]), len(rest), resp[:300])
        return h, json.loads(rest)

    def test_curl_upload_is_decrypted_by_sluice(self):
        for i, extra in enumerate(([], ["-H", "Expect:"]), 1):
            with self.subTest(extra=extra):
                code, body = self.curl_put("c%d.bin" % i, *extra)
                self.assertEqual(code, 201, body)
                self.assertEqual(json.loads(body)["sha256"],
                                 hashlib.sha256(self.data).hexdigest())
                self.assertEqual(self.stored("c%d.bin" % i), self.data)
                self.assertEqual(self.metric("sluice_direct_reads_total"), i)

    def test_taken_over_mid_body_answered_through_the_session(self):
        body = self.data[:3 * MiB]
        resp, after = self.slow_mid(b"PUT /files/mid.bin HTTP/1.1\r\nHost: x\r\n"
                                    b"Content-Length: %d\r\n\r\n" % len(body), body)
        h, doc = self.assert_answer(resp, 201)
        self.assertEqual(doc, {"name": "mid.bin", "size": len(body),
                               "sha256": hashlib.sha256(body).hexdigest()})
        self.assertEqual(after, b"")
        self.assertEqual(self.stored("mid.bin"), body)
        self.assertEqual(self.metric("sluice_direct_reads_total"), 1)
        code, _ = self.curl_put("after.bin")
        self.assertEqual(code, 201)

    def test_an_answer_longer_than_a_record(self):
        # a form of 81 files taken over mid-way: its answer (a line per file) is over 16 KiB, so
        # sluice's own answer goes out in several TLS records
        args = ["-F", "big=@%s;filename=big.bin" % self.path]
        small = os.path.join(self.dir, "small")
        with open(small, "wb") as f:
            f.write(b"x" * 100)
        for i in range(80):
            args += ["-F", "f%d=@%s;filename=%02d-%s.txt" % (i, small, i, "n" * 120)]
        p = subprocess.run(["curl", "-sS", "--cacert", self.crt, "-w", "\n%{http_code}", *args,
                            self.base + "/files/?name=form"], capture_output=True,
                           timeout=2 * LIMIT)
        body, _, code = p.stdout.decode().rpartition("\n")
        self.assertEqual(code, "201", p.stderr)
        self.assertGreater(len(body), 16384)
        self.assertEqual(len(json.loads(body)["files"]), 81)
        self.assertEqual(self.stored("form/big.bin"), self.data)
        self.assertEqual(self.metric("sluice_direct_reads_total"), 1)

    def test_a_digest_mismatch_is_answered_and_stores_nothing(self):
        body = self.data[:300000]
        bad = "sha-256=:%s:" % base64.b64encode(hashlib.sha256(b"x").digest()).decode()
        resp, _ = self.slow_mid(b"PUT /files/bad.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                                b"Repr-Digest: %s\r\n\r\n" % (len(body), bad.encode()), body)
        h, doc = self.assert_answer(resp, 400)
        self.assertEqual(h["content-type"], "application/json")
        self.assertEqual(doc["status"], 400)
        self.assert_gone("bad.bin")
        self.assertEqual(self.metric("sluice_direct_reads_total"), 1)

    def test_client_gone_mid_body(self):
        s = self.connect()
        self.first_piece(s, b"PUT /files/gone.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                         b"\r\n" % (8 * MiB) + self.data[:1000], 1000)
        s.sendall(self.data[1000:3 * MiB])
        wait_until(lambda: self.metric("sluice_direct_reads_total") == 1, "the body taken over")
        s.close()
        self.assert_gone("gone.bin")
        wait_until(lambda: self.metric("sluice_uploads_failed_total") == 1, "the failure counted")
        code, _ = self.curl_put("after.bin")
        self.assertEqual(code, 201)
        self.assertEqual(self.stored("after.bin"), self.data)

    def test_a_corrupt_record_mid_body_ends_the_upload(self):
        s = self.connect()
        try:
            self.first_piece(s, b"PUT /files/corrupt.bin HTTP/1.1\r\nHost: x\r\nContent-Length: "
                             b"%d\r\n\r\n" % (4 * MiB) + self.data[:1000], 1000)
            s.sendall(self.data[1000:MiB])
            wait_until(lambda: self.metric("sluice_direct_reads_total") == 1, "the body taken over")
            # an application-data record whose bytes were never encrypted by the session
            os.write(s.fileno(), b"\x17\x03\x03\x40\x00" + os.urandom(16384))
            wait_until(lambda: self.metric("sluice_uploads_failed_total") == 1, "the failure counted")
        finally:
            s.close()
        self.assert_gone("corrupt.bin")
        code, _ = self.curl_put("after.bin")
        self.assertEqual(code, 201)

    def test_a_fast_client_that_pauses_is_read(self):
        # fast bursts raise the socket's low-water mark; a record begun but not whole inside
        # GnuTLS must not make the mark wait for bytes that will not come before the pause ends
        body = self.data[:2 * MiB]
        burst, sent = 600 * 1024, 600 * 1024 + 10 * 1024
        s = self.connect()
        try:
            self.first_piece(s, b"PUT /files/pause.bin HTTP/1.1\r\nHost: x\r\nContent-Length: "
                             b"%d\r\n\r\n" % len(body) + body[:1000], 1000)
            send_until_read(s, body[1000:burst], self.received, burst, "the burst")
            send_until_read(s, body[burst:sent], self.received, sent,
                            "all bytes sent, during the pause", limit=10)
            s.sendall(body[sent:])
            resp = read_response(s, timeout=30, read_all=False)
        finally:
            s.close()
        self.assert_answer(resp, 201)
        self.assertEqual(self.stored("pause.bin"), body)

    def test_a_trickling_client(self):
        body = self.data[:200000]
        s = self.connect()
        try:
            self.first_piece(s, b"PUT /files/slow.bin HTTP/1.1\r\nHost: x\r\nContent-Length: "
                             b"%d\r\n\r\n" % len(body) + body[:100], 100)
            for i in range(100, len(body), 20000):  # small records, each read before the next
                end = min(i + 20000, len(body))
                if end < len(body):
                    send_until_read(s, body[i:end], self.received, end, "a trickled piece")
                else:
                    s.sendall(body[i:end])
            resp = read_response(s, timeout=30, read_all=False)
        finally:
            s.close()
        self.assert_answer(resp, 201)
        self.assertEqual(self.stored("slow.bin"), body)
        self.assertEqual(self.metric("sluice_direct_reads_total"), 1)

    def test_tus_patch_taken_over_mid_way(self):
        body = self.data[:500000]
        p = subprocess.run(["curl", "-sS", "-i", "--cacert", self.crt, "-X", "POST", "-H",
                            "Tus-Resumable: 1.0.0", "-H", "Upload-Length: %d" % len(body),
                            self.base + "/uploads/"], capture_output=True, timeout=LIMIT)
        loc = [x.split(": ", 1)[1].strip() for x in p.stdout.decode().split("\r\n")
               if x.lower().startswith("location:")][0]
        path = "/" + loc.split("/", 3)[3] if loc.startswith("http") else loc
        resp, _ = self.slow_mid(b"PATCH %s HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n"
                                b"Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream"
                                b"\r\nContent-Length: %d\r\n\r\n" % (path.encode(), len(body)),
                                body)
        head = resp.partition(b"\r\n\r\n")[0].decode()
        self.assertTrue(head.startswith("HTTP/1.1 204 "), head)
        self.assertIn("Upload-Offset: %d\r\n" % len(body), head + "\r\n")
        self.assertEqual(self.metric("sluice_direct_reads_total"), 1)
        p = subprocess.run(["curl", "-sS", "-I", "--cacert", self.crt, "-H", "Tus-Resumable: 1.0.0",
                            self.base + path], capture_output=True, timeout=LIMIT)
        self.assertIn("Upload-Offset: %d\r\n" % len(body), p.stdout.decode())


if __name__ == "__main__":
    unittest.main()
