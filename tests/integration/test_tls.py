#!/usr/bin/env python3
"""HTTPS (--tls-cert, --tls-key; docs/security.md): uploads end to end over TLS (a chunked one read
by libmicrohttpd, one with a length taken over by sluice after the first piece), a client with the wrong CA, plain HTTP to
the TLS port, TLS 1.1 refused, and a certificate replaced by SIGHUP while an upload is in flight.

Certificates are made here, at run time, with the openssl command (nothing is committed).

Run: SLUICE_BIN=build/sluice python3 tests/integration/test_tls.py -v
"""
import hashlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LIMIT, Server, ServerTest, parse_metrics, wait_until  # noqa: E402


def make_cert(d, name, cn="localhost"):
    """A self-signed EC certificate for localhost and 127.0.0.1: (cert path, key path)."""
    crt, key = os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", crt,
                        "-days", "1", "-subj", "/CN=" + cn, "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=LIMIT)
    if p.returncode != 0:
        raise AssertionError("openssl req: %s" % p.stdout.decode())
    return crt, key


def run_curl(*args):
    return subprocess.run(["curl", "-s", "-S", "--max-time", str(LIMIT)] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=LIMIT + 10)


class Tls(ServerTest):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sluice-tls-")
        self.crt, self.key = make_cert(self.dir, "server")
        # the server reads these paths; a reload reads them again
        self.srv = Server("--tls-cert", self.crt, "--tls-key", self.key).start()
        self.base = "https://localhost:%d" % self.srv.port

    def tearDown(self):
        try:
            super().tearDown()  # stopped, exit status 0, no sanitizer report in its output
        finally:
            subprocess.run(["rm", "-rf", self.dir])

    def metrics(self):
        p = run_curl("--cacert", self.crt, self.base + "/metrics")
        self.assertEqual(p.returncode, 0, p.stderr)
        return parse_metrics(p.stdout.decode())

    def served_cert(self):
        return ssl.get_server_certificate(("127.0.0.1", self.srv.port))

    def test_upload_and_download_over_tls(self):
        data = os.path.join(self.dir, "data")
        payload = os.urandom(8 << 20)
        with open(data, "wb") as f:
            f.write(payload)
        digest = hashlib.sha256(payload).hexdigest()
        for how in (["-T", data], ["-T", "-", "-H", "Transfer-Encoding: chunked"]):
            with self.subTest(how=how[:2]):
                stdin = open(data, "rb") if how[1] == "-" else None
                p = subprocess.run(["curl", "-s", "-S", "--max-time", str(LIMIT), "--cacert",
                                    self.crt, "-w", "\n%{http_code}"] + how +
                                   [self.base + "/files/big"], stdin=stdin,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   timeout=LIMIT + 10)
                if stdin:
                    stdin.close()
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertTrue(p.stdout.endswith(b"\n201"), p.stdout)
                self.assertIn(digest.encode(), p.stdout)
        p = run_curl("--cacert", self.crt, self.base + "/files/big")
        self.assertEqual(hashlib.sha256(p.stdout).hexdigest(), digest)
        m = self.metrics()
        # the -T body after libmicrohttpd's first piece is decrypted by sluice (test_tls_direct.py)
        self.assertEqual(sum(v for (n, _), v in m.items() if n == "sluice_direct_reads_total"), 1)
        self.assertEqual(sum(v for (n, _), v in m.items()
                             if n == "sluice_uploads_committed_total"), 2)

    def test_wrong_ca_plain_http_and_old_tls_refused(self):
        other, _ = make_cert(self.dir, "other")
        p = run_curl("--cacert", other, self.base + "/healthz")
        self.assertEqual(p.returncode, 60, p.stderr)  # peer certificate cannot be authenticated
        p = run_curl("http://127.0.0.1:%d/healthz" % self.srv.port)
        self.assertNotEqual(p.returncode, 0)
        self.assertNotIn(b"ok", p.stdout)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.crt)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        try:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_1
            with socket.create_connection(("127.0.0.1", self.srv.port), timeout=LIMIT) as s:
                with self.assertRaises(ssl.SSLError):
                    ctx.wrap_socket(s, server_hostname="localhost")
        except ValueError:
            pass  # this Python's OpenSSL cannot even offer TLS 1.1
        p = run_curl("--cacert", self.crt, self.base + "/healthz")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"ok", p.stdout)

    def test_sighup_replaces_the_certificate_without_dropping_an_upload(self):
        body = os.urandom(1 << 20)
        ctx = ssl.create_default_context(cafile=self.crt)
        raw = socket.create_connection(("127.0.0.1", self.srv.port), timeout=LIMIT)
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        try:
            s.sendall(b"PUT /files/inflight HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                      % len(body) + body[:1000])
            old = self.served_cert()
            new_crt, new_key = make_cert(self.dir, "next", cn="next")
            os.replace(new_crt, self.crt)
            os.replace(new_key, self.key)
            self.srv.send(signal.SIGHUP)
            wait_until(lambda: self.served_cert() != old, "the new certificate")
            s.sendall(body[1000:])
            resp = b""
            while b"}\n" not in resp:
                chunk = s.recv(65536)
                if not chunk:
                    break
                resp += chunk
            self.assertTrue(resp.startswith(b"HTTP/1.1 201"), resp)
        finally:
            s.close()
        with open(os.path.join(self.srv.root, "inflight"), "rb") as f:
            self.assertEqual(f.read(), body)
        # a bad file on reload keeps the certificate in use
        with open(self.crt, "w") as f:
            f.write("not a certificate\n")
        self.srv.send(signal.SIGHUP)
        wait_until(lambda: "certificate kept" in self.srv.output(), "the reload's message")
        self.assertIn("BEGIN CERTIFICATE", self.served_cert())

    def test_a_stalled_handshake_is_closed_by_the_header_timeout(self):
        srv = Server("--tls-cert", self.crt, "--tls-key", self.key, "--header-timeout", "1")
        srv.start()
        try:
            for hello in (b"", b"\x16\x03\x01\x00\xff\x01"):  # nothing, half a ClientHello
                with socket.create_connection(("127.0.0.1", srv.port), timeout=LIMIT) as s:
                    s.sendall(hello)
                    got = b""
                    try:
                        while True:
                            chunk = s.recv(4096)
                            if not chunk:
                                break
                            got += chunk
                    except ConnectionError:
                        pass
                    self.assertNotIn(b"HTTP/1.1", got)  # no plain answer on a TLS port
            p = run_curl("--cacert", self.crt, "https://localhost:%d/healthz" % srv.port)
            self.assertEqual(p.returncode, 0, p.stderr)
        finally:
            srv.stop()

    def test_missing_key_or_bad_files_do_not_start(self):
        for args in (["--tls-cert", self.crt], ["--tls-cert", self.crt, "--tls-key", self.crt],
                     ["--tls-cert", "/nonexistent", "--tls-key", self.key]):
            with self.subTest(args=args):
                p = subprocess.run([os.environ.get("SLUICE_BIN", "build/sluice"), "--listen",
                                    "127.0.0.1:0", "--root", self.dir] + args,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   timeout=LIMIT)
                self.assertEqual(p.returncode, 1, p.stderr)
                self.assertIn(b"tls", p.stderr.lower())


if __name__ == "__main__":
    unittest.main()
