"""Failure paths of sluice (issue 2, "Bad input", and DESIGN.md §3 rule 8, §5).

(a) a client that disconnects mid-body (Content-Length and chunked, FIN and RST)
(b) a curl client SIGKILLed mid-upload (file upload with Content-Length, and `curl -T -`)
(c) an idle client with --idle-timeout 2, dropped for being idle (and a slow but steady one that
    must survive)
(d) kill -9 of the server with uploads in flight and commits racing: after a restart on the same
    root nothing partial sits under a final name, every acknowledged upload is intact, and the
    start-up sweep removed every temp file (swept=N in the "listening on" line)
(e) ENOSPC on an 8 MiB tmpfs root: 507 before the body for a Content-Length that does not fit;
    507 for a body that runs out of space mid-way; a connection closed for a chunked body that goes
    on for more than 4 MiB after the failure; temp files removed and the space given back
(f) graceful stop on SIGTERM: the listening socket closes at once, an upload in flight finishes
    within --shutdown-timeout, one that does not is cleaned up, and the server exits 0 without
    being forced by the 5 s grace past the deadline

After every failure: the temp file is gone (waited for, harness.wait_until), nothing under the
final name, and the server still serves.

Run: cd /work/main && SLUICE_BIN=build/sluice python3 tests/integration/test_failures.py -v
"""
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LIMIT, Server, ServerTest, curl, read_until_done, sha256_file,  # noqa: E402
                     wait_until)

KiB = 1 << 10
MiB = 1 << 20


def payload(seed, n):
    return random.Random(seed).randbytes(n)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def connect(port, timeout=LIMIT):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def put_head(name, length=None, chunked=False, extra=b""):
    h = b"PUT /files/%s HTTP/1.1\r\nHost: sluice\r\n" % name.encode()
    if chunked:
        h += b"Transfer-Encoding: chunked\r\n"
    if length is not None:
        h += b"Content-Length: %d\r\n" % length
    return h + extra + b"\r\n"


def chunk(data):
    return b"%x\r\n" % len(data) + data + b"\r\n"


def final_status(buf):
    codes = [int(c) for c in re.findall(rb"HTTP/1\.[01] (\d{3})", buf) if c != b"100"]
    return codes[-1] if codes else None


def response_json(buf):
    rest = buf
    while True:
        head, _, body = rest.partition(b"\r\n\r\n")
        if head.startswith(b"HTTP/1.1 100"):
            rest = body
            continue
        return json.loads(body)


def send_quietly(s, data):
    """sendall that reports a peer reset/close instead of raising."""
    try:
        s.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError):
        return False


class CleanupAsserts:
    def assert_tmp_cleaned(self, srv):
        wait_until(lambda: srv.tmp_files() == [], lambda: "temp files to go: %s" % srv.tmp_files())

    def assert_still_serving(self, srv, name="after.bin"):
        data = payload(name, 100 * KiB + 3)
        with tempfile.NamedTemporaryFile() as f:
            f.write(data)
            f.flush()
            st, _, body = curl("-T", f.name, f"{srv.url}/files/{name}", timeout=20)
        self.assertEqual(st, 201, body)
        self.assertEqual(json.loads(body)["sha256"], sha(data))
        st, _, body = curl(f"{srv.url}/files/{name}", timeout=20)
        self.assertEqual(st, 200)
        self.assertEqual(body, data)

    def wait_tmp_present(self, srv, n=1):
        wait_until(lambda: len(srv.tmp_files()) >= n, "%d temp file(s) in flight" % n)

    def wait_tmp_written(self, srv):
        """Some body bytes in a temp file."""
        wait_until(lambda: any(os.path.getsize(os.path.join(srv.root, ".sluice/tmp", f)) > 0
                               for f in srv.tmp_files()), "body bytes in a temp file")


# --------------------------------------------------------------------------------------------
# (a) client disconnects mid-body
class ClientDisconnect(CleanupAsserts, ServerTest):
    # a stuck upload would hold the stop for the whole shutdown timeout
    server_args = ("--shutdown-timeout", "2")

    def _disconnect(self, name, chunked, rst):
        srv = self.srv
        s = connect(srv.port)
        data = payload(name, 1 * MiB)
        if chunked:
            s.sendall(put_head(name, chunked=True))
            s.sendall(chunk(data[:512 * KiB]))
            # a chunk announced as 1 MiB, cut after 100 KiB
            s.sendall(b"%x\r\n" % len(data) + data[:100 * KiB])
        else:
            s.sendall(put_head(name, 8 * MiB))
            s.sendall(data)
        self.wait_tmp_present(srv)
        self.wait_tmp_written(srv)
        if rst:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        self.assert_tmp_cleaned(srv)
        self.assertEqual(srv.final_files(), [])
        st, _, _ = curl(f"{srv.url}/files/{name}")
        self.assertEqual(st, 404)
        self.assert_still_serving(srv)

    def test_content_length_close(self):
        self._disconnect("cl-fin.bin", chunked=False, rst=False)

    def test_content_length_reset(self):
        self._disconnect("cl-rst.bin", chunked=False, rst=True)

    def test_chunked_close(self):
        self._disconnect("te-fin.bin", chunked=True, rst=False)

    def test_chunked_reset(self):
        self._disconnect("te-rst.bin", chunked=True, rst=True)

    def test_content_length_close_right_after_sending(self):
        """Headers and 1 MiB of a 2 MiB body (or one 1 MiB chunk) in one go, then FIN at once
        (four clients, half-closed so we can watch the server's end): the FIN is queued behind
        data the server has not read yet. Once it has read that data it must see the EOF,
        close its end and drop the upload. (libmicrohttpd 0.9.75 stops reading an
        edge-triggered socket after a short recv, so an EOF already queued behind the data is
        easy to miss; the idle timeout, 60s, must not be what cleans up: the uploads fail as
        client_gone, none as idle.)"""
        srv = self.srv
        data = payload("burst", MiB)
        socks = []
        for i in range(4):
            s = connect(srv.port)
            if i % 2:
                s.sendall(put_head(f"burst-{i}.bin", chunked=True) + chunk(data))
            else:
                s.sendall(put_head(f"burst-{i}.bin", 2 * MiB) + data)
            s.shutdown(socket.SHUT_WR)
            socks.append(s)
        outcome = []
        for s in socks:
            buf, how = read_until_done(s, LIMIT)
            s.close()
            outcome.append((how, final_status(buf)))
        self.assertEqual([o[0] for o in outcome if o[0] == "timeout"], [],
                         "server kept connections open (CLOSE-WAIT) after the client's FIN: "
                         "%s; temp files %s" % (outcome, srv.tmp_files()))
        for i, (how, st) in enumerate(outcome):
            if i % 2:  # chunked, read by libmicrohttpd: nothing to answer, the connection closes
                self.assertIn((how, st), (("closed", None), ("reset", None)), outcome)
            else:  # read by sluice (src_sock.c), which answers the early end before it closes
                self.assertEqual((how, st), ("response", 400), outcome)
        self.assert_tmp_cleaned(srv)
        wait_until(lambda: srv.metric("sluice_uploads_failed_total", reason="client_gone") == 4,
                   "four uploads failed as client_gone")
        self.assertEqual(srv.metric("sluice_uploads_failed_total", reason="idle"), 0)
        self.assertEqual(srv.final_files(), [])
        self.assert_still_serving(srv)

    def test_disconnect_while_replacing_keeps_old(self):
        """A dropped upload over an existing name leaves the old file untouched."""
        srv = self.srv
        old = payload("old", 300 * KiB)
        with tempfile.NamedTemporaryFile() as f:
            f.write(old)
            f.flush()
            st, _, body = curl("-T", f.name, f"{srv.url}/files/keep.bin")
        self.assertEqual(st, 201, body)
        s = connect(srv.port)
        s.sendall(put_head("keep.bin", 4 * MiB) + payload("new", MiB))
        self.wait_tmp_present(srv)
        s.close()
        self.assert_tmp_cleaned(srv)
        self.assertEqual(srv.final_files(), ["keep.bin"])
        self.assertEqual(sha256_file(os.path.join(srv.root, "keep.bin")), sha(old))


# --------------------------------------------------------------------------------------------
# (b) a curl client killed with SIGKILL mid-upload
class ClientKilled(CleanupAsserts, ServerTest):
    server_args = ("--shutdown-timeout", "2")

    def test_curl_file_upload_sigkill(self):
        srv = self.srv
        with tempfile.NamedTemporaryFile() as f:
            f.write(payload("k", 16 * MiB))
            f.flush()
            p = subprocess.Popen(["curl", "-s", "--limit-rate", "2M", "-T", f.name,
                                  f"{srv.url}/files/killed.bin"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                self.wait_tmp_present(srv)
                self.wait_tmp_written(srv)  # some body on its way
                self.assertIsNone(p.poll(), "curl finished too early")
                p.send_signal(signal.SIGKILL)
            finally:
                p.wait(timeout=10)
        self.assert_tmp_cleaned(srv)
        self.assertEqual(srv.final_files(), [])
        self.assert_still_serving(srv)

    def test_curl_chunked_stdin_sigkill(self):
        srv = self.srv
        p = subprocess.Popen(["curl", "-s", "-T", "-", f"{srv.url}/files/killed-te.bin"],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            p.stdin.write(payload("te", 2 * MiB))
            p.stdin.flush()
            self.wait_tmp_present(srv)
            self.wait_tmp_written(srv)
            p.send_signal(signal.SIGKILL)
        finally:
            p.wait(timeout=10)
            try:
                p.stdin.close()
            except BrokenPipeError:
                pass
        self.assert_tmp_cleaned(srv)
        self.assertEqual(srv.final_files(), [])
        self.assert_still_serving(srv)


# --------------------------------------------------------------------------------------------
# (c) idle clients
class IdleClient(CleanupAsserts, ServerTest):
    server_args = ("--idle-timeout", "2")

    def _idle(self, name, chunked):
        """The client goes silent with the connection open: the upload is dropped for being
        idle (sluice_uploads_failed_total{reason="idle"}, counted only once nothing moved for
        --idle-timeout), its temp file goes, and the connection is closed (or answered 408)."""
        srv = self.srv
        s = connect(srv.port)
        if chunked:
            s.sendall(put_head(name, chunked=True) + chunk(payload(name, 100 * KiB)))
        else:
            s.sendall(put_head(name, MiB) + payload(name, 100 * KiB))
        self.wait_tmp_present(srv)
        t_last = time.monotonic()  # the client goes silent from here
        wait_until(lambda: srv.metric("sluice_uploads_failed_total", reason="idle") == 1,
                   "the idle upload to be dropped")
        self.assert_tmp_cleaned(srv)
        t_tmp = time.monotonic() - t_last
        buf, how = read_until_done(s, LIMIT)
        t_conn = time.monotonic() - t_last
        s.close()
        print("\n  idle %s: temp file removed after %.2fs, connection %s after %.2fs, "
              "status %s" % ("chunked" if chunked else "content-length", t_tmp, how, t_conn,
                             final_status(buf)), file=sys.stderr)
        self.assertIn((how, final_status(buf)), (("closed", None), ("reset", None),
                                                 ("response", 408)), buf[:300])
        m = srv.metrics()
        self.assertEqual(sum(v for (n, lab), v in m.items()
                             if n == "sluice_uploads_failed_total" and ("reason", "idle") not in lab),
                         0, "dropped for another reason than idleness")
        self.assertEqual(srv.final_files(), [])
        self.assert_still_serving(srv)

    def test_idle_content_length(self):
        self._idle("idle-cl.bin", chunked=False)

    def test_idle_chunked(self):
        self._idle("idle-te.bin", chunked=True)

    def test_slow_but_steady_survives(self):
        """Progress every 0.25s for 5s (longer than the 2s idle timeout in total) is not idle.
        (The pacing is the client being slow, not a wait: the gaps only need to stay under the
        2 s timeout, 8 times what they are.)"""
        srv = self.srv
        data = payload("steady", 20 * 2 * KiB)
        s = connect(srv.port)
        s.sendall(put_head("steady.bin", len(data)))
        for i in range(20):
            s.sendall(data[i * 2 * KiB:(i + 1) * 2 * KiB])
            time.sleep(0.25)
        buf, how = read_until_done(s, LIMIT)
        s.close()
        self.assertEqual(how, "response", buf)
        self.assertEqual(final_status(buf), 201, buf)
        self.assertEqual(response_json(buf)["sha256"], sha(data))
        self.assertEqual(srv.metric("sluice_uploads_failed_total", reason="idle"), 0)


# --------------------------------------------------------------------------------------------
# (d) kill -9 of the server
class ServerKilled(unittest.TestCase):

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="sluice-it-kill9-")
        self.servers = []

    def tearDown(self):
        for srv in self.servers:
            if srv.proc is not None and srv.proc.poll() is None:
                srv.proc.kill()
                srv.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def start(self):
        srv = Server(root=self.root).start()
        self.servers.append(srv)
        return srv

    def test_kill9_during_uploads(self):
        srv = self.start()
        expected = {}   # final name -> sha256 of the complete content that may sit there
        acked = {}      # final name -> sha256 acknowledged with 201

        # 1. acknowledged uploads, one of them about to be replaced
        for i, size in enumerate([0, 1, 4 * KiB + 1, 700 * KiB, 3 * MiB + 5]):
            name = f"done/{i}.bin"
            data = payload(name, size)
            with tempfile.NamedTemporaryFile() as f:
                f.write(data)
                f.flush()
                st, _, body = curl("-T", f.name, f"{srv.url}/files/{name}")
            self.assertEqual(st, 201, body)
            self.assertEqual(json.loads(body)["sha256"], sha(data))
            expected[name] = acked[name] = sha(data)

        # 2. uploads stuck in flight: Content-Length, chunked, and one replacing done/4.bin
        inflight = []
        for i in range(3):
            s = connect(srv.port)
            s.sendall(put_head(f"partial/{i}.bin", 4 * MiB) + payload(i, 1 * MiB + 17 * i))
            inflight.append(s)
        s = connect(srv.port)
        s.sendall(put_head("partial/te.bin", chunked=True) + chunk(payload("te", 900 * KiB)))
        inflight.append(s)
        s = connect(srv.port)
        s.sendall(put_head("done/4.bin", 5 * MiB) + payload("replacement", 2 * MiB))
        inflight.append(s)
        wait_until(lambda: len(srv.tmp_files()) >= 5 and all(
            os.path.getsize(os.path.join(self.root, ".sluice/tmp", f)) > 0
            for f in srv.tmp_files()), lambda: "5 temp files with data: %s" % srv.tmp_files())

        # 3. a storm of small uploads committing while the kill lands
        stop = threading.Event()
        lock = threading.Lock()

        def storm(t):
            k = 0
            while not stop.is_set():
                name = f"storm/{t}-{k}.bin"
                data = payload(name, random.Random(name).randrange(1, 512 * KiB))
                with lock:
                    expected[name] = sha(data)
                try:
                    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=LIMIT)
                    c.request("PUT", f"/files/{name}", body=data)
                    r = c.getresponse()
                    body = r.read()
                    c.close()
                except (OSError, http.client.HTTPException):
                    return
                if r.status == 201:
                    with lock:
                        acked[name] = json.loads(body)["sha256"]
                k += 1

        threads = [threading.Thread(target=storm, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        wait_until(lambda: sum(n.startswith("storm/") for n in acked) >= 20,
                   "20 acknowledged uploads from the storm")
        srv.send(signal.SIGKILL)
        self.assertEqual(srv.wait(LIMIT), -signal.SIGKILL)
        stop.set()
        for t in threads:
            t.join(LIMIT)
        for s in inflight:
            s.close()
        srv.log.close()

        left = sorted(os.listdir(os.path.join(self.root, ".sluice", "tmp")))
        self.assertGreaterEqual(len(left), 5, "the in-flight temp files should survive the kill")
        storm_acked = sum(n.startswith("storm/") for n in acked)

        # 4. restart on the same root
        srv2 = self.start()
        m = re.search(r"swept=(\d+)", srv2.output())
        self.assertIsNotNone(m, srv2.output())
        print("\n  kill -9: %d acknowledged (%d from the storm), %d temp files left, swept=%s"
              % (len(acked), storm_acked, len(left), m.group(1)), file=sys.stderr)
        self.assertEqual(int(m.group(1)), len(left))
        self.assertEqual(srv2.tmp_files(), [])
        finals = srv2.final_files()
        for name in finals:
            self.assertIn(name, expected, "unexpected file under a final name: %s" % name)
            self.assertEqual(sha256_file(os.path.join(self.root, name)), expected[name],
                             "partial or wrong content under final name %s" % name)
        for name, digest in acked.items():
            self.assertIn(name, finals, "acknowledged upload %s lost" % name)
            self.assertEqual(sha256_file(os.path.join(self.root, name)), digest)
        self.assertFalse([n for n in finals if n.startswith("partial/")])
        # the interrupted replacement left the old done/4.bin
        self.assertEqual(sha256_file(os.path.join(self.root, "done/4.bin")), acked["done/4.bin"])
        # and the restarted server serves them
        st, _, body = curl(f"{srv2.url}/files/done/3.bin")
        self.assertEqual(st, 200)
        self.assertEqual(sha(body), acked["done/3.bin"])
        st, _, body = curl(f"{srv2.url}/files/partial/0.bin")
        self.assertEqual(st, 404)
        CleanupAsserts.assert_still_serving(self, srv2)
        self.assertEqual(srv2.stop(), 0)


# --------------------------------------------------------------------------------------------
# (e) ENOSPC on a small tmpfs
class DiskFull(CleanupAsserts, unittest.TestCase):
    SIZE = "8m"

    def setUp(self):
        self.mnt = tempfile.mkdtemp(prefix="sluice-it-enospc-")
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + self.SIZE, "tmpfs", self.mnt],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode != 0:
            os.rmdir(self.mnt)
            self.fail("cannot mount a tmpfs (the ENOSPC test needs root): %s" % p.stdout.decode())
        try:
            self.srv = Server(root=self.mnt).start()
        except BaseException:
            subprocess.run(["umount", self.mnt])
            os.rmdir(self.mnt)
            raise

    def tearDown(self):
        out = self.srv.output()
        rc = self.srv.stop()
        p = subprocess.run(["umount", self.mnt], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode == 0:
            os.rmdir(self.mnt)
        self.assertEqual(rc, 0, out)
        self.assertEqual(p.returncode, 0, "umount: %s" % p.stdout.decode())

    def free(self):
        st = os.statvfs(self.mnt)
        return st.f_bavail * st.f_frsize

    def test_content_length_too_big_507_before_body(self):
        srv = self.srv
        for expect in (b"", b"Expect: 100-continue\r\n"):
            s = connect(srv.port)
            s.sendall(put_head("big.bin", 16 * MiB, extra=expect))  # headers only, no body
            buf, how = read_until_done(s, LIMIT)
            s.close()
            self.assertEqual(how, "response", (how, buf))
            self.assertNotIn(b"100 Continue", buf)
            self.assertEqual(final_status(buf), 507, buf)
            j = response_json(buf)
            self.assertEqual(j["status"], 507)
            self.assertIn("error", j)
        self.assertEqual(srv.tmp_files(), [])
        self.assertEqual(srv.final_files(), [])
        self.assert_still_serving(srv)

    def test_chunked_fills_disk_507(self):
        """10 MiB chunked into ~8 MiB: the write fails around 8 MiB, the server reads and
        discards the rest (less than its 4 MiB discard allowance) and answers 507."""
        srv = self.srv
        before = self.free()
        s = connect(srv.port)
        s.sendall(put_head("fill.bin", chunked=True))
        data = payload("fill", 10 * MiB)
        sent_all = True
        for off in range(0, len(data), 64 * KiB):
            if not send_quietly(s, chunk(data[off:off + 64 * KiB])):
                sent_all = False
                break
        if sent_all:
            send_quietly(s, b"0\r\n\r\n")
        buf, how = read_until_done(s, LIMIT)
        s.close()
        self.assertEqual(how, "response", (how, buf[:300]))
        self.assertEqual(final_status(buf), 507, buf[:300])
        self.assertEqual(response_json(buf)["status"], 507)
        self.assert_tmp_cleaned(srv)
        self.assertEqual(srv.final_files(), [])
        wait_until(lambda: self.free() >= before,
                   lambda: "the space given back: %d < %d" % (self.free(), before))
        self.assert_still_serving(srv)

    def test_chunked_far_past_full_closes(self):
        """A chunked body that goes on for more than 4 MiB after the disk filled: the server
        stops discarding and closes the connection (it cannot answer mid-body). We accept the
        close, or a 507 if it arrives first; never a 201."""
        srv = self.srv
        before = self.free()
        s = connect(srv.port)
        s.sendall(put_head("flood.bin", chunked=True))
        sent = 0
        closed_early = False
        while sent < 64 * MiB:  # a server that stops reading but never closes: socket timeout
            if not send_quietly(s, chunk(payload(sent, 64 * KiB))):
                closed_early = True
                break
            sent += 64 * KiB
        if not closed_early:
            send_quietly(s, b"0\r\n\r\n")
        buf, how = read_until_done(s, LIMIT)
        s.close()
        print("\n  chunked 64 MiB into 8 MiB: server %s after %.1f MiB sent, status %s"
              % ("closed" if closed_early else how, sent / MiB, final_status(buf)),
              file=sys.stderr)
        self.assertTrue(closed_early or how in ("closed", "reset") or final_status(buf) == 507,
                        (how, buf[:300]))
        self.assertIn(final_status(buf), (None, 507), buf[:300])  # a close, or the 507 first
        self.assertLess(sent, 20 * MiB, "server kept reading long after the disk filled")
        self.assert_tmp_cleaned(srv)
        self.assertEqual(srv.final_files(), [])
        wait_until(lambda: self.free() >= before, "the space given back")
        self.assert_still_serving(srv)

    def test_content_length_runs_out_mid_body_507(self):
        """Two 5 MiB uploads both pass the free-space check (8 MiB free); the first completes,
        the second runs out of space after ~3 MiB and gets 507 (remaining body < 4 MiB)."""
        srv = self.srv
        a, b = payload("a", 5 * MiB), payload("b", 5 * MiB)
        sa, sb = connect(srv.port), connect(srv.port)
        sa.sendall(put_head("a.bin", len(a), extra=b"Expect: 100-continue\r\n"))
        sb.sendall(put_head("b.bin", len(b), extra=b"Expect: 100-continue\r\n"))
        for s in (sa, sb):
            s.settimeout(LIMIT)
            self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 100"), "no 100 Continue")
        sa.sendall(a)
        buf, how = read_until_done(sa, LIMIT)
        sa.close()
        self.assertEqual(final_status(buf), 201, buf[:300])
        ok = send_quietly(sb, b)
        buf, how = read_until_done(sb, LIMIT)
        sb.close()
        self.assertEqual(how, "response", (ok, how, buf[:300]))
        self.assertEqual(final_status(buf), 507, buf[:300])
        self.assert_tmp_cleaned(srv)
        self.assertEqual(srv.final_files(), ["a.bin"])
        self.assertEqual(sha256_file(os.path.join(self.mnt, "a.bin")), sha(a))
        # room again once a.bin is deleted
        st, _, _ = curl("-X", "DELETE", f"{srv.url}/files/a.bin")
        self.assertEqual(st, 204)
        self.assert_still_serving(srv)


# --------------------------------------------------------------------------------------------
# (f) graceful stop
class GracefulStop(CleanupAsserts, unittest.TestCase):

    def tearDown(self):
        srv = getattr(self, "srv", None)
        if srv is not None:
            if srv.proc.poll() is None:
                srv.proc.kill()
                srv.proc.wait()
            srv.stop()

    def refused(self, port):
        try:
            c = socket.create_connection(("127.0.0.1", port), timeout=2)
        except ConnectionRefusedError:
            return True
        except ConnectionResetError:
            return False  # it raced the listener's close (reset from the backlog): ask again
        c.close()
        return False

    def test_sigterm_lets_upload_finish(self):
        srv = self.srv = Server("--shutdown-timeout", "10").start()
        data = payload("graceful", 2 * MiB)
        s = connect(srv.port)
        s.sendall(put_head("graceful.bin", len(data)) + data[:256 * KiB])
        self.wait_tmp_present(srv)
        # an idle keep-alive connection that tries a new upload after SIGTERM
        k = connect(srv.port)
        k.sendall(b"GET /healthz HTTP/1.1\r\nHost: sluice\r\n\r\n")
        buf, how = read_until_done(k, LIMIT)
        self.assertEqual(final_status(buf), 200, buf)
        t_term = time.time()
        srv.send(signal.SIGTERM)
        wait_until(lambda: self.refused(srv.port), "new connections refused after SIGTERM")
        self.assertIsNone(srv.proc.poll(), "server exited with an upload in flight")
        # a new upload on the old keep-alive connection is refused (503) or the connection closed
        send_quietly(k, put_head("late.bin", 10) + b"0123456789")
        buf, how = read_until_done(k, LIMIT)
        k.close()
        late = (how, final_status(buf))
        self.assertIn(how, ("response", "closed", "reset"), how)
        if how == "response":
            self.assertEqual(final_status(buf), 503, buf)
        # the in-flight upload completes, slowly, over ~2s (the client's pace, not a wait: any
        # pace well inside the 10 s passes)
        for off in range(256 * KiB, len(data), 128 * KiB):
            s.sendall(data[off:off + 128 * KiB])
            time.sleep(0.14)
        buf, how = read_until_done(s, LIMIT)
        s.close()
        self.assertEqual(final_status(buf), 201, (how, buf[:300]))
        self.assertEqual(response_json(buf)["sha256"], sha(data))
        rc = srv.wait(LIMIT)
        t_exit = time.time() - t_term
        print("\n  SIGTERM with --shutdown-timeout 10: new upload on a kept-alive connection "
              "got %s; upload in flight finished, exit %d after %.1fs" % (late, rc, t_exit),
              file=sys.stderr)
        self.assertEqual(rc, 0, srv.output())
        self.assertNotIn("stop forced", srv.output())
        self.assertEqual(srv.final_files(), ["graceful.bin"])
        self.assertEqual(sha256_file(os.path.join(srv.root, "graceful.bin")), sha(data))
        self.assertEqual(srv.tmp_files(), [])

    def test_sigterm_deadline_aborts_unfinished_upload(self):
        srv = self.srv = Server("--shutdown-timeout", "1").start()
        s = connect(srv.port)
        s.sendall(put_head("never.bin", 4 * MiB) + payload("never", 512 * KiB))
        c = connect(srv.port)
        c.sendall(put_head("never-te.bin", chunked=True) + chunk(payload("te", 300 * KiB)))
        self.wait_tmp_present(srv, 2)
        t_term = time.time()
        srv.send(signal.SIGTERM)
        wait_until(lambda: self.refused(srv.port), "new connections refused after SIGTERM")
        # the deadline (1s, checked by a once-a-second tick) aborts both uploads
        self.assert_tmp_cleaned(srv)
        t_tmp = time.time() - t_term
        try:
            rc = srv.wait(LIMIT)
        except subprocess.TimeoutExpired:
            self.fail("server did not exit after SIGTERM with --shutdown-timeout 1")
        t_exit = time.time() - t_term
        results = []
        for x in (s, c):
            buf, how = read_until_done(x, LIMIT)
            x.close()
            results.append((how, final_status(buf)))
        print("\n  SIGTERM with --shutdown-timeout 1: temp files removed after %.1fs, exit %d "
              "after %.1fs, clients saw %s" % (t_tmp, rc, t_exit, results), file=sys.stderr)
        self.assertEqual(rc, 0, srv.output())
        # "time in-flight uploads get" is 1s: once they are aborted nothing is left to wait
        # for, so the stop must not be the one forced 5 s past the deadline (which says so)
        self.assertNotIn("stop forced", srv.output())
        for how, st in results:
            self.assertIn((how, st), (("response", 503), ("closed", None), ("reset", None)),
                          results)
        self.assertEqual(srv.tmp_files(), [])
        self.assertEqual(srv.final_files(), [])


if __name__ == "__main__":
    unittest.main()
