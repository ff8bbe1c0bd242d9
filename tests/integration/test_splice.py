"""Bodies spliced from the socket into the file (streams/pipe.c, server/http/src_sock.c): a fast
body that no stage of its chain reads (--digest none, no digest fields, identity encoding) goes
socket -> pipe -> temp file with splice(2) and never through sluice's memory. Each case stores
exactly the bytes sent, or nothing; the pipes are closed when the upload ends. The digests of the
stored bytes (the default SHA-256, a Repr-Digest to check) are taken behind the sink, from what
it wrote: spliced too, a mismatch refused with nothing left. Bodies that a stage must read in
memory (gzip) and --no-splice are read into memory as before; a tus PATCH's carried SHA-256 is
taken behind the sink too.
Counted by sluice_spliced_bytes_total.
"""
import base64
import gzip
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LIMIT, Server, wait_until  # noqa: E402

MiB = 1 << 20


def fds(pid):
    """The pipes the process holds now."""
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("pipe:"):
                out.append(fd)
        except FileNotFoundError:
            pass
    return out


class Splice(unittest.TestCase):
    args = ("--digest", "none")

    @classmethod
    def setUpClass(cls):
        cls.data = os.urandom(48 * MiB + 4321)
        cls.path = "/tmp/sluice-splice-%d.bin" % os.getpid()
        with open(cls.path, "wb") as f:
            f.write(cls.data)

    @classmethod
    def tearDownClass(cls):
        os.unlink(cls.path)

    def setUp(self):
        self.srv = Server(*self.args).start()
        self.pipes_at_start = len(fds(self.srv.pid()))

    def tearDown(self):
        self.srv.stop()

    def put(self, name, *extra, path=None):
        r = subprocess.run(["curl", "-sS", "-T", path or self.path, "-w", "\n%{http_code}", *extra,
                            self.srv.url + "/files/" + name], capture_output=True, timeout=2 * LIMIT)
        body, _, code = r.stdout.decode().rpartition("\n")
        return int(code), body

    def stored(self, name):
        with open(os.path.join(self.srv.root, name), "rb") as f:
            return f.read()

    def spliced(self):
        return self.srv.metric("sluice_spliced_bytes_total")

    def assert_pipes_closed(self):
        wait_until(lambda: len(fds(self.srv.pid())) == self.pipes_at_start,
                   lambda: "the upload's pipes to close: %d open, %d at start"
                   % (len(fds(self.srv.pid())), self.pipes_at_start))

    def assert_tmp_empty(self):
        wait_until(lambda: not self.srv.tmp_files(),
                   lambda: "the temp files to go: %s" % self.srv.tmp_files())

    def test_curl_upload_is_spliced(self):
        code, body = self.put("a.bin")
        self.assertEqual(code, 201, body)
        self.assertEqual(json.loads(body)["size"], len(self.data))
        self.assertEqual(self.stored("a.bin"), self.data)
        # all but the start (read while the client proves fast, and the last few MiB) is spliced
        self.assertGreater(self.spliced(), len(self.data) // 2)
        self.assertLessEqual(self.spliced(), len(self.data))
        self.assert_pipes_closed()
        self.assert_tmp_empty()

    def test_without_expect_taken_over_mid_body(self):
        code, body = self.put("b.bin", "-H", "Expect:")
        self.assertEqual(code, 201, body)
        self.assertEqual(self.stored("b.bin"), self.data)
        self.assertGreater(self.spliced(), len(self.data) // 2)
        self.assert_pipes_closed()

    def test_replacing_a_file_and_several_at_once(self):
        self.assertEqual(self.put("same.bin")[0], 201)
        results = {}

        def one(i):
            results[i] = self.put("c%d.bin" % i)

        ts = [threading.Thread(target=one, args=(i,)) for i in range(6)]
        ts.append(threading.Thread(target=lambda: results.setdefault("same", self.put("same.bin"))))
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        for k, (code, body) in results.items():
            self.assertIn(code, (200, 201), (k, body))
        for i in range(6):
            self.assertEqual(hashlib.sha256(self.stored("c%d.bin" % i)).digest(),
                             hashlib.sha256(self.data).digest(), i)
        self.assertEqual(self.stored("same.bin"), self.data)
        self.assertGreater(self.spliced(), 7 * len(self.data) // 2)
        self.assert_pipes_closed()
        self.assert_tmp_empty()

    def test_client_gone_mid_splice_stores_nothing(self):
        total = len(self.data)
        head = (b"PUT /files/gone.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                b"Expect: 100-continue\r\n\r\n" % total)
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=30)
        s.sendall(head)
        self.assertTrue(s.recv(64).startswith(b"HTTP/1.1 100 Continue"))
        s.sendall(self.data[:24 * MiB])
        wait_until(lambda: self.spliced() > 0, lambda: "some bytes to be spliced")
        s.close()
        self.assert_tmp_empty()
        self.assert_pipes_closed()
        self.assertFalse(os.path.exists(os.path.join(self.srv.root, "gone.bin")))
        # counted when the chain's end is reported, which may come after its files and pipes went
        wait_until(lambda: self.srv.metric("sluice_uploads_failed_total") >= 1,
                   "the upload counted as failed")
        self.assertEqual(self.srv.metric("sluice_uploads_failed_total"), 1)
        code, _ = self.put("after.bin")  # the server goes on
        self.assertEqual(code, 201)
        self.assertEqual(self.stored("after.bin"), self.data)

    def tus_create(self):
        r = subprocess.run(["curl", "-sS", "-i", "-X", "POST", "-H", "Tus-Resumable: 1.0.0",
                            "-H", "Upload-Length: %d" % len(self.data), self.srv.url + "/uploads/"],
                           capture_output=True, timeout=LIMIT)
        loc = [x.split(": ", 1)[1].strip() for x in r.stdout.decode().split("\r\n")
               if x.lower().startswith("location:")][0]
        return loc if loc.startswith("http") else self.srv.url + loc

    def tus_patch(self, url, offset, path):
        """curl -X PATCH of the file at `path` at `offset`: the status and the answer's headers."""
        r = subprocess.run(["curl", "-sS", "-X", "PATCH", "-T", path, "-o", "/dev/null", "-D", "-",
                            "-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Offset: %d" % offset,
                            "-H", "Content-Type: application/offset+octet-stream", url],
                           capture_output=True, timeout=2 * LIMIT)
        lines = [b for b in r.stdout.decode().split("\r\n\r\n") if b][-1].split("\r\n")  # not 100
        head = {k.lower(): v for k, v in (x.split(": ", 1) for x in lines[1:] if ": " in x)}
        return int(lines[0].split()[1]), head

    def test_tus_patch_is_spliced(self):
        url = self.tus_create()
        code, _ = self.tus_patch(url, 0, self.path)
        self.assertEqual(code, 204)
        self.assertGreater(self.spliced(), len(self.data) // 2)
        names = self.srv.final_files()
        self.assertEqual(len(names), 1, names)
        self.assertEqual(self.stored(names[0]), self.data)
        self.assert_pipes_closed()

    def test_digests_are_taken_behind_and_gzip_is_not_spliced(self):
        # Repr-Digest asks for a check: the digest stage forwards the piped chunks and the sink
        # hashes what it wrote, read back; a match is stored, a mismatch refused with nothing left
        sha = hashlib.sha256(self.data).digest()
        before = self.spliced()
        code, body = self.put("d.bin", "-H", "Repr-Digest: sha-256=:%s:" % base64.b64encode(sha).decode())
        self.assertEqual(code, 201, body)
        self.assertGreater(self.spliced() - before, len(self.data) // 2)
        self.assertEqual(self.stored("d.bin"), self.data)
        before = self.spliced()
        bad = hashlib.sha256(b"another body").digest()
        code, body = self.put("bad.bin", "-H", "Repr-Digest: sha-256=:%s:" % base64.b64encode(bad).decode())
        self.assertEqual((code, json.loads(body)["code"]), (400, "SL_ECHECKSUM"), body)
        self.assertEqual(json.loads(body)["actual"], base64.b64encode(sha).decode())
        self.assertGreater(self.spliced() - before, len(self.data) // 2)
        self.assertEqual(self.srv.final_files(), ["d.bin"])
        wait_until(lambda: self.srv.tmp_files() == [], "no temp file left")
        # gzip: the inflate stage reads it
        gz = self.path + ".gz"
        with open(gz, "wb") as f:
            f.write(gzip.compress(self.data[:16 * MiB], 1))
        before = self.spliced()
        try:
            code, body = self.put("e.bin", "-H", "Content-Encoding: gzip", path=gz)
        finally:
            os.unlink(gz)
        self.assertEqual(code, 201, body)
        self.assertEqual(self.stored("e.bin"), self.data[:16 * MiB])
        self.assertEqual(self.spliced() - before, 0)
        self.assert_pipes_closed()


class SpliceBackpressure(Splice):
    """Small buffers: the budget (which counts piped bytes) stops the poll many times, the pipes
    fill and drain; the bytes still arrive whole and in order."""
    args = ("--digest", "none", "--upload-buffer", "64K", "--buffer-budget", "1M")


class SpliceDefaultDigest(Splice):
    """The default SHA-256 is taken behind the sink: spliced, read back from the page cache in
    the write's job, and the answer's digest is the body's."""
    args = ()

    def test_curl_upload_is_spliced(self):
        code, body = self.put("a.bin")
        self.assertEqual(code, 201, body)
        self.assertEqual(json.loads(body)["sha256"], hashlib.sha256(self.data).hexdigest())
        self.assertGreater(self.spliced(), len(self.data) // 2)
        self.assertEqual(self.stored("a.bin"), self.data)
        self.assert_pipes_closed()

    def test_tus_patch_is_spliced(self):
        # the upload's SHA-256, carried from PATCH to PATCH, rides behind the sink: both PATCHes
        # spliced, the completing one answers the body's digest, no commit reads the file again
        url, half = self.tus_create(), 20 * MiB + 17
        first = self.path + ".first"
        with open(first, "wb") as f:
            f.write(self.data[:half])
        rest = self.path + ".rest"
        with open(rest, "wb") as f:
            f.write(self.data[half:])
        try:
            self.assertEqual(self.tus_patch(url, 0, first)[0], 204)
            code, head = self.tus_patch(url, half, rest)
        finally:
            os.unlink(first)
            os.unlink(rest)
        self.assertEqual(code, 204, head)
        sha = hashlib.sha256(self.data).digest()
        self.assertEqual(head.get("repr-digest"), "sha-256=:%s:" % base64.b64encode(sha).decode())
        self.assertGreater(self.spliced(), len(self.data) // 2)
        self.assertEqual(self.srv.metric("sluice_digest_reads_total"), 0)
        names = self.srv.final_files()
        self.assertEqual(len(names), 1, names)
        self.assertEqual(self.stored(names[0]), self.data)
        self.assert_pipes_closed()

    def test_tus_patch_cut_mid_splice_then_resumed(self):
        # a PATCH whose client goes away mid-body keeps the bytes it wrote, and its end waits for
        # the hash behind them: the resumed upload goes on from that state (no second read) and
        # ends with the body's digest and bytes
        url = self.tus_create()
        u = urllib.parse.urlsplit(url)
        s = socket.create_connection((u.hostname, u.port), timeout=LIMIT)
        s.sendall(("PATCH %s HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
                   "Content-Type: application/offset+octet-stream\r\nContent-Length: %d\r\n\r\n"
                   % (u.path, len(self.data))).encode())
        s.sendall(self.data[:30 * MiB])
        wait_until(lambda: self.spliced() > 0, lambda: "some bytes to be spliced")
        s.close()
        offset = lambda: int(subprocess.run(  # noqa: E731
            ["curl", "-sS", "-I", "-H", "Tus-Resumable: 1.0.0", url], capture_output=True,
            timeout=LIMIT).stdout.decode().lower().split("upload-offset: ")[1].split()[0])
        wait_until(lambda: offset() > 0, lambda: "the cut PATCH's bytes to count")
        at = offset()
        self.assertLessEqual(at, 30 * MiB)
        rest = self.path + ".rest"
        with open(rest, "wb") as f:
            f.write(self.data[at:])
        try:
            code, head = self.tus_patch(url, at, rest)
        finally:
            os.unlink(rest)
        self.assertEqual(code, 204, head)
        sha = hashlib.sha256(self.data).digest()
        self.assertEqual(head.get("repr-digest"), "sha-256=:%s:" % base64.b64encode(sha).decode())
        self.assertEqual(self.srv.metric("sluice_digest_reads_total"), 0)
        names = self.srv.final_files()
        self.assertEqual(self.stored(names[0]), self.data)
        self.assert_pipes_closed()


class NoSplice(unittest.TestCase):
    def test_no_splice_flag(self):
        srv = Server("--digest", "none", "--no-splice").start()
        try:
            data = os.urandom(24 * MiB)
            path = os.path.join(srv.root, "..", "ns-%d.bin" % os.getpid())
            with open(path, "wb") as f:
                f.write(data)
            r = subprocess.run(["curl", "-sS", "-T", path, "-o", "/dev/null", "-w", "%{http_code}",
                                srv.url + "/files/n.bin"], capture_output=True, timeout=LIMIT)
            os.unlink(path)
            self.assertEqual(r.stdout, b"201")
            with open(os.path.join(srv.root, "n.bin"), "rb") as f:
                self.assertEqual(f.read(), data)
            self.assertEqual(srv.metric("sluice_spliced_bytes_total"), 0)
            self.assertEqual(srv.metric("sluice_direct_reads_total"), 1)
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main()
