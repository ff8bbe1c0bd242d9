"""Bodies read by sluice from the socket itself (server/http/src_sock.c): a request with Content-Length
whose body libmicrohttpd has not touched ("Expect: 100-continue", or a header sent alone), or the
rest of one after libmicrohttpd's first pieces (then sluice writes the answer itself), on a new
connection or a kept-alive one. Every case stores exactly the bytes sent (or nothing) and gets a
complete answer; the cases that must stay with libmicrohttpd (after a chunked request on the
connection, a small body, --no-direct-read) do, counted by sluice_direct_reads_total.
"""
import hashlib
import shutil
import signal
import json
import os
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LIMIT, Server, read_response, send_until_read, wait_until  # noqa: E402

MiB = 1 << 20


class DirectRead(unittest.TestCase):
    args = ()

    def setUp(self):
        self.srv = Server(*self.args).start()
        self.data = os.urandom(9 * MiB + 123)
        self.path = os.path.join(self.srv.root, "..", "direct-%d.bin" % os.getpid())
        with open(self.path, "wb") as f:
            f.write(self.data)

    def tearDown(self):
        os.unlink(self.path)
        self.srv.stop()

    def metric(self, name):
        out = subprocess.run(["curl", "-sS", self.srv.url + "/metrics"], capture_output=True,
                             timeout=LIMIT).stdout.decode()
        line = [x for x in out.splitlines() if x.startswith(name + "{")]
        return int(float(line[0].split()[-1]))

    def curl_put(self, name, *extra):
        r = subprocess.run(["curl", "-sS", "-T", self.path, "-w", "\n%{http_code}", *extra,
                            self.srv.url + "/files/" + name], capture_output=True, timeout=2 * LIMIT)
        body, _, code = r.stdout.decode().rpartition("\n")
        return int(code), body

    def stored(self, name):
        with open(os.path.join(self.srv.root, name), "rb") as f:
            return f.read()

    def assert_tmp_empty(self):
        wait_until(lambda: not self.srv.tmp_files(),
                   lambda: "the temp files to go: %s" % self.srv.tmp_files())

    def test_curl_upload_is_read_directly(self):
        code, body = self.curl_put("a.bin")
        self.assertEqual(code, 201, body)
        self.assertEqual(json.loads(body)["sha256"], hashlib.sha256(self.data).hexdigest())
        self.assertEqual(self.stored("a.bin"), self.data)
        self.assertEqual(self.metric("sluice_direct_reads_total"), 1)
        # the server goes on serving normally
        code, _ = self.curl_put("b.bin", "-H", "Expect:")  # no Expect: read directly too
        self.assertEqual(code, 201)
        self.assertEqual(self.stored("b.bin"), self.data)
        self.assertEqual(self.metric("sluice_direct_reads_total"), 2)

    def test_a_form_is_read_directly(self):
        r = subprocess.run(["curl", "-sS", "-F", "f=@%s;filename=x.bin" % self.path, "-F", "c=1",
                            "-H", "Expect: 100-continue", self.srv.url + "/files/?name=form"],
                           capture_output=True, timeout=60)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["fields"], {"c": "1"})
        self.assertEqual(self.stored("form/x.bin"), self.data)
        self.assertEqual(self.metric("sluice_direct_reads_total"), 1)

    def test_a_digest_mismatch_stores_nothing(self):
        import base64
        bad = "sha-256=:%s:" % base64.b64encode(hashlib.sha256(b"x").digest()).decode()
        code, body = self.curl_put("bad.bin", "-H", "Repr-Digest: " + bad)
        self.assertEqual(code, 400, body)
        self.assertFalse(os.path.exists(os.path.join(self.srv.root, "bad.bin")))
        self.assert_tmp_empty()

    def raw(self, head, body, wait_continue):
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=30)
        try:
            s.sendall(head)
            if wait_continue:
                got = s.recv(64)
                self.assertTrue(got.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), got)
            s.sendall(body)
            return read_response(s, timeout=30, read_all=False)
        finally:
            s.close()

    def test_a_client_that_does_not_wait_for_100(self):
        # headers and body in one send: libmicrohttpd reads its first pieces, sluice the rest
        body = self.data[:3 * MiB]
        head = (b"PUT /files/eager.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                b"Expect: 100-continue\r\n\r\n" % len(body))
        resp = self.raw(head + body[:100000], body[100000:], False)
        if resp.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"):
            resp = resp[25:]  # libmicrohttpd's own 100
        self.assert_answer(resp, 201, "eager.bin", body)
        self.assertEqual(self.stored("eager.bin"), body)
        self.assertEqual(self.metric("sluice_direct_reads_total"), 1)

    def assert_answer(self, resp, status, name, body):
        """A whole answer written by sluice: status, headers, a JSON body of Content-Length."""
        head, _, rest = resp.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.assertEqual(lines[0].split(" ")[1], str(status), resp[:300])
        h = {k.lower(): v for k, _, v in (x.partition(": ") for x in lines[1:])}
        self.assertEqual(h["connection"], "close")
        self.assertIn("date", h)
        self.assertEqual(int(h["content-length"]), len(rest), resp[:300])
        doc = json.loads(rest)
        if status == 201:
            self.assertEqual(h["content-type"], "application/json")
            self.assertEqual(h["location"], "/files/" + name)
            self.assertEqual(h["etag"], '"%s"' % hashlib.sha256(body).hexdigest())
            self.assertEqual(doc, {"name": name, "size": len(body),
                                   "sha256": hashlib.sha256(body).hexdigest()})
        return h, doc

    def test_no_expect_header_alone(self):
        # a browser's way: the header, then the body in pieces; sluice reads all of it
        body = self.data[:MiB + 7]
        head = b"PUT /files/alone.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=30)
        try:
            s.sendall(head)
            time.sleep(0.2)  # the header alone reaches the server first
            for i in range(0, len(body), 64 << 10):
                s.sendall(body[i:i + (64 << 10)])
            resp = read_response(s, timeout=30, read_all=False)
            self.assertEqual(s.recv(16), b"")  # and the connection closes
        finally:
            s.close()
        self.assert_answer(resp, 201, "alone.bin", body)
        self.assertEqual(self.stored("alone.bin"), body)
        self.assertEqual(self.metric("sluice_direct_reads_total"), 1)

    def slow_mid(self, head, body, first=1000):
        """The header with `first` body bytes in one send, a pause, the rest: taken over mid-way."""
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=30)
        try:
            s.sendall(head + body[:first])
            time.sleep(0.2)
            s.sendall(body[first:])
            return read_response(s, timeout=30, read_all=False)
        finally:
            s.close()

    def test_taken_over_mid_body(self):
        body = self.data[:200000]
        resp = self.slow_mid(b"PUT /files/mid.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                             b"\r\n" % len(body), body)
        self.assert_answer(resp, 201, "mid.bin", body)
        self.assertEqual(self.stored("mid.bin"), body)
        self.assertEqual(self.metric("sluice_direct_reads_total"), 1)
        # no abort in the access log's eyes, and the server goes on
        code, _ = self.curl_put("after-mid.bin")
        self.assertEqual(code, 201)

    def test_taken_over_mid_body_error_answer(self):
        import base64
        body = self.data[:300000]
        bad = "sha-256=:%s:" % base64.b64encode(hashlib.sha256(b"x").digest()).decode()
        resp = self.slow_mid(b"PUT /files/midbad.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                             b"Repr-Digest: %s\r\n\r\n" % (len(body), bad.encode()), body)
        h, doc = self.assert_answer(resp, 400, "midbad.bin", body)
        self.assertEqual(h["content-type"], "application/json")
        self.assertEqual(doc["status"], 400)
        self.assertIn("Repr-Digest", resp.decode(errors="replace"))
        self.assertFalse(os.path.exists(os.path.join(self.srv.root, "midbad.bin")))
        self.assert_tmp_empty()
        self.assertEqual(self.metric("sluice_direct_reads_total"), 1)

    def test_small_body_stays_with_libmicrohttpd(self):
        # under 16 KiB left after the first piece: not worth a connection; kept alive
        body = self.data[:12000]
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=30)
        try:
            for name in (b"s1", b"s2"):
                s.sendall(b"PUT /files/%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                          % (name, len(body)) + body[:100])
                time.sleep(0.1)
                s.sendall(body[100:])
                resp = read_response(s, timeout=10, read_all=False)
                self.assertIn(b" 201 ", resp.split(b"\r\n")[0])
                self.assertNotIn(b"Connection: close", resp)
        finally:
            s.close()
        self.assertEqual(self.stored("s2"), body)
        self.assertEqual(self.metric("sluice_direct_reads_total"), 0)

    def test_raw_client_that_waits(self):
        body = self.data[:2 * MiB]
        head = (b"PUT /files/waits.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                b"Expect: 100-continue\r\n\r\n" % len(body))
        resp = self.raw(head, body, True)
        self.assertIn(b" 201 ", resp.split(b"\r\n")[0], resp[:200])
        self.assertIn(b"Connection: close", resp)  # no keep-alive after a body read directly
        self.assertEqual(self.stored("waits.bin"), body)
        self.assertEqual(self.metric("sluice_direct_reads_total"), 1)

    def test_second_request_on_a_connection(self):
        small = b"hello"
        body = self.data[:MiB]
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=30)
        try:
            s.sendall(b"PUT /files/one HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n" + small)
            first = read_response(s, timeout=10, read_all=False)
            self.assertIn(b" 201 ", first.split(b"\r\n")[0])
            s.sendall(b"PUT /files/two HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                      b"Expect: 100-continue\r\n\r\n" % len(body))
            got = s.recv(64)
            self.assertTrue(got.startswith(b"HTTP/1.1 100 Continue"), got)
            s.sendall(body)
            second = read_response(s, timeout=30, read_all=False)
            self.assertIn(b" 201 ", second.split(b"\r\n")[0], second[:200])
            self.assertIn(b"Connection: close", second)
        finally:
            s.close()
        # read directly: libmicrohttpd read exactly the first request (counted per connection)
        self.assertEqual(self.stored("two"), body)
        self.assertEqual(self.metric("sluice_direct_reads_total"), 1)

    def test_after_a_chunked_request_libmicrohttpd_keeps_reading(self):
        # a chunked body's bytes on the wire are not counted: later bodies stay with libmicrohttpd
        body = self.data[:MiB]
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=30)
        try:
            s.sendall(b"PUT /files/c1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"5\r\nhello\r\n0\r\n\r\n")
            first = read_response(s, timeout=10, read_all=False)
            self.assertIn(b" 201 ", first.split(b"\r\n")[0])
            s.sendall(b"PUT /files/c2 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                      % len(body))
            time.sleep(0.2)
            s.sendall(body)
            second = read_response(s, timeout=30, read_all=False)
            self.assertIn(b" 201 ", second.split(b"\r\n")[0], second[:200])
            self.assertNotIn(b"Connection: close", second)
        finally:
            s.close()
        self.assertEqual(self.stored("c2"), body)
        self.assertEqual(self.metric("sluice_direct_reads_total"), 0)

    def test_client_gone_mid_body(self):
        total = 8 * MiB
        head = (b"PUT /files/gone.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                b"Expect: 100-continue\r\n\r\n" % total)
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=30)
        s.sendall(head)
        self.assertTrue(s.recv(64).startswith(b"HTTP/1.1 100 Continue"))
        s.sendall(self.data[:3 * MiB])
        s.close()
        self.assert_tmp_empty()
        self.assertFalse(os.path.exists(os.path.join(self.srv.root, "gone.bin")))
        code, _ = self.curl_put("after.bin")
        self.assertEqual(code, 201)

    def test_a_fast_client_that_pauses_is_read(self):
        # fast bursts raise the socket's low-water mark (fuller reads); when the client pauses
        # below it, what it sent is still read (the server's tick lowers the mark again)
        body = self.data[:2 * MiB]
        sent = 600 * 1024 + 10 * 1024
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=30)
        try:
            s.sendall(b"PUT /files/pause.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                      b"Expect: 100-continue\r\n\r\n" % len(body))
            self.assertTrue(s.recv(64).startswith(b"HTTP/1.1 100 Continue"))
            received = lambda: self.metric("sluice_received_bytes_total")  # noqa: E731
            # a fast burst (read, and the mark raised), then a little, far below the mark
            send_until_read(s, body[:600 * 1024], received, 600 * 1024, "the burst")
            send_until_read(s, body[600 * 1024:sent], received, sent,
                            "all bytes sent, during the pause", limit=10)
            s.sendall(body[sent:])
            resp = read_response(s, timeout=30, read_all=False)
        finally:
            s.close()
        self.assertIn(b" 201 ", resp.split(b"\r\n")[0], resp[:200])
        self.assertEqual(self.stored("pause.bin"), body)

    def test_client_gone_mid_body_taken_over_mid_way(self):
        total = 8 * MiB
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=30)
        s.sendall(b"PUT /files/gone2.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % total
                  + self.data[:1000])
        time.sleep(0.2)
        s.sendall(self.data[1000:3 * MiB])
        wait_until(lambda: self.metric("sluice_direct_reads_total") == 1, "the body taken over")
        s.close()
        self.assert_tmp_empty()
        self.assertFalse(os.path.exists(os.path.join(self.srv.root, "gone2.bin")))
        code, _ = self.curl_put("after.bin")
        self.assertEqual(code, 201)

    def test_tus_patch_taken_over_mid_way(self):
        body = self.data[:500000]
        r = subprocess.run(["curl", "-sS", "-i", "-X", "POST", "-H", "Tus-Resumable: 1.0.0",
                            "-H", "Upload-Length: %d" % len(body), self.srv.url + "/uploads/"],
                           capture_output=True, timeout=LIMIT)
        loc = [x.split(": ", 1)[1].strip() for x in r.stdout.decode().split("\r\n")
               if x.lower().startswith("location:")][0]
        path = "/" + loc.split("/", 3)[3] if loc.startswith("http") else loc
        resp = self.slow_mid(b"PATCH %s HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n"
                             b"Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
                             b"Content-Length: %d\r\n\r\n" % (path.encode(), len(body)), body)
        head = resp.partition(b"\r\n\r\n")[0].decode()
        self.assertTrue(head.startswith("HTTP/1.1 204 "), head)
        h = {k.lower(): v for k, _, v in (x.partition(": ") for x in head.split("\r\n")[1:])}
        self.assertEqual(h["upload-offset"], str(len(body)))
        self.assertEqual(h["tus-resumable"], "1.0.0")
        self.assertEqual(h["connection"], "close")
        self.assertNotIn("content-length", h)
        self.assertEqual(self.metric("sluice_direct_reads_total"), 1)
        r = subprocess.run(["curl", "-sS", "-I", "-H", "Tus-Resumable: 1.0.0", self.srv.url + path],
                           capture_output=True, timeout=LIMIT)
        self.assertIn("Upload-Offset: %d" % len(body), r.stdout.decode())


class DirectReadShutdown(unittest.TestCase):
    def test_sigterm_mid_body(self):
        # the drain deadline passes mid-body: the client gets the 503 (sluice holds the socket,
        # the answer still goes out), the temp file goes, the process exits 0
        srv = Server("--shutdown-timeout", "1").start()
        total = 64 * MiB
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
        try:
            s.sendall(b"PUT /files/big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                      b"Expect: 100-continue\r\n\r\n" % total)
            self.assertTrue(s.recv(64).startswith(b"HTTP/1.1 100 Continue"))
            s.sendall(os.urandom(MiB))
            srv.send(signal.SIGTERM)
            s.setblocking(False)
            deadline, resp = time.monotonic() + LIMIT, b""  # a hang guard
            while time.monotonic() < deadline and b"\r\n\r\n" not in resp:
                try:
                    s.send(b"x" * 65536)  # keep trickling, as a client mid-upload does
                except (BlockingIOError, OSError):
                    pass
                try:
                    resp += s.recv(4096)
                except BlockingIOError:
                    time.sleep(0.05)
                except OSError:
                    break
        finally:
            s.close()
        self.assertEqual(srv.wait(timeout=LIMIT), 0)
        self.assertIn(b" 503 ", resp.split(b"\r\n")[0], resp[:200])
        self.assertEqual(srv.tmp_files(), [])
        self.assertEqual(srv.final_files(), [])
        shutil.rmtree(srv.root, ignore_errors=True)


class DirectReadTus(unittest.TestCase):
    """A tus PATCH sent with Expect (curl -X PATCH -T) is read directly too; a client that goes
    away keeps what arrived (resumable), and the rest completes the upload."""

    def setUp(self):
        self.srv = Server().start()

    def tearDown(self):
        self.srv.stop()

    def req(self, method, path, headers, body=b""):
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=30)
        try:
            head = "%s %s HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nConnection: close\r\n" % (method, path)
            head += "".join("%s: %s\r\n" % kv for kv in headers.items())
            s.sendall(head.encode() + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            return read_response(s, timeout=30)
        finally:
            s.close()

    def received(self):
        out = subprocess.run(["curl", "-sS", self.srv.url + "/metrics"], capture_output=True,
                             timeout=LIMIT).stdout.decode()
        line = [x for x in out.splitlines() if x.startswith("sluice_received_bytes_total{")]
        return int(float(line[0].split()[-1])) if line else 0

    def test_patch_cut_then_resumed(self):
        data = os.urandom(6 * MiB)
        resp = self.req("POST", "/uploads/", {"Upload-Length": str(len(data))})
        loc = [x.split(b": ", 1)[1].decode() for x in resp.split(b"\r\n") if x.lower().startswith(b"location:")][0]
        # a PATCH with Expect, cut after 2 MiB
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=30)
        s.sendall(b"PATCH %s HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
                  b"Content-Type: application/offset+octet-stream\r\nContent-Length: %d\r\n"
                  b"Expect: 100-continue\r\n\r\n" % (loc.encode(), len(data)))
        self.assertTrue(s.recv(64).startswith(b"HTTP/1.1 100 Continue"))
        s.sendall(data[:2 * MiB])
        wait_until(lambda: self.received() > 0, "the server to read some of it before the cut")
        s.close()

        def kept():
            head = self.req("HEAD", loc, {})
            m = [x for x in head.split(b"\r\n") if x.lower().startswith(b"upload-offset:")]
            off = int(m[0].split(b":")[1]) if m else -1
            return off if off > 0 and b" 423 " not in head.split(b"\r\n")[0] else 0
        offset = wait_until(kept, "HEAD to report the bytes that arrived")
        self.assertGreater(offset, 0)  # what arrived is kept
        self.assertLessEqual(offset, 2 * MiB)
        path = os.path.join(self.srv.root, "..", "tus-%d.bin" % os.getpid())
        with open(path, "wb") as f:
            f.write(data[offset:])
        try:
            r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PATCH",
                                "-T", path, "-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Offset: %d" % offset,
                                "-H", "Content-Type: application/offset+octet-stream",
                                "-H", "Expect: 100-continue", self.srv.url + loc],
                               capture_output=True, timeout=60)
        finally:
            os.unlink(path)
        self.assertEqual(r.stdout, b"204", r.stderr)
        out = subprocess.run(["curl", "-sS", self.srv.url + "/metrics"], capture_output=True,
                             timeout=10).stdout.decode()
        self.assertIn('sluice_direct_reads_total{worker="0"} 2', out)
        names = self.srv.final_files()
        self.assertEqual(len(names), 1, names)
        with open(os.path.join(self.srv.root, names[0]), "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), hashlib.sha256(data).hexdigest())


class DirectReadBackpressure(DirectRead):
    """Small buffers: the poll stops and starts many times; the bytes still arrive whole."""
    args = ("--upload-buffer", "64K", "--buffer-budget", "1M")


class DirectReadOff(unittest.TestCase):
    def test_no_direct_read(self):
        srv = Server("--no-direct-read").start()
        try:
            data = os.urandom(3 * MiB)
            path = os.path.join(srv.root, "..", "off-%d.bin" % os.getpid())
            with open(path, "wb") as f:
                f.write(data)
            r = subprocess.run(["curl", "-sS", "-T", path, srv.url + "/files/off.bin"],
                               capture_output=True, timeout=60)
            os.unlink(path)
            self.assertEqual(json.loads(r.stdout)["size"], len(data))
            out = subprocess.run(["curl", "-sS", srv.url + "/metrics"], capture_output=True,
                                 timeout=10).stdout.decode()
            self.assertIn('sluice_direct_reads_total{worker="0"} 0', out)
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main()
