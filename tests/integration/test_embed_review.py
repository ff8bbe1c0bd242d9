"""Reproductions from the review of the embedding code (hooks.c, hook_cmd.c, http.c attach/stop,
routes.c mount). Each test asserts the behaviour that should hold; the ones that fail show a bug.

Run: python3 -m unittest tests/integration/test_embed_review.py -v   (build/sluice, build/sluice_embed)
"""
import base64
import json
import os
import shutil
import signal
import socket
import stat
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, LIMIT, TOP, Server, exchange, read_until_done, status_of,  # noqa: E402
                     wait_until)

import subprocess  # noqa: E402

EMBED = (os.environ.get("SLUICE_EMBED_BINS") or
         os.path.join(TOP, "build", "sluice_embed")).split(":")[0]


def put(name, body, extra=b""):
    return (b"PUT /files/%s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n"
            % (name.encode(), extra, len(body)) + body)


def script(d, name, text):
    p = os.path.join(d, name)
    with open(p, "w") as f:
        f.write(text)
    os.chmod(p, stat.S_IRWXU)


class Dirs(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sluice-review-")
        self.srv = None

    def tearDown(self):
        if self.srv is not None and self.srv.proc.poll() is None:
            self.srv.proc.kill()
            self.srv.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class EventPathAfterDisconnect(Dirs):
    """sl__event_init (hooks.c) sets ev.path = r->path, a pointer into libmicrohttpd's connection
    pool; on_abort after the client went away reads it after MHD_pool_destroy. With a pool above
    32 KiB MHD mmaps it, so the read faults."""

    def test_abort_event_after_client_disconnect_does_not_crash(self):
        self.srv = Server("--hook-exec", self.dir, "--conn-memory", "64K").start()
        s = socket.create_connection(("127.0.0.1", self.srv.port))
        s.sendall(b"PUT /files/gone.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n"
                  + b"x" * 300000)
        wait_until(lambda: self.srv.metric("sluice_received_bytes_total") == 300000,
                   "the server to have the 300000 bytes")
        s.close()
        # the abort event is built right after the failure is counted (upload.c): a scrape that
        # sees the count was answered after it, by a live server
        try:
            wait_until(lambda: self.srv.metric("sluice_uploads_failed_total",
                                               reason="client_gone") == 1, "the upload's abort")
        except (AssertionError, OSError) as e:
            self.fail("no abort counted (rc %s): %s" % (self.srv.proc.poll(), e))
        self.assertIsNone(self.srv.proc.poll(),
                          "sluice died (rc %s) after an aborted upload" % self.srv.proc.returncode)
        self.assertEqual(self.srv.stop(), 0)


class SpawnFailure(Dirs):
    """run_exec (hook_cmd.c): when uv_spawn fails the uv_process_t is never closed (libuv has
    already put it in the loop's handle queue) and in/outp are closed with the call freed by the
    timer's close callback first (closing handles run LIFO): use-after-free, and uv_loop_close
    returns EBUSY, so sluice exits 1 'cannot start ... resource busy'."""

    def test_unstartable_request_hook_then_clean_stop(self):
        os.mkdir(os.path.join(self.dir, "request"))  # has S_IXUSR, exec fails with EACCES
        self.srv = Server("--hook-exec", self.dir).start()
        r = exchange(self.srv.port, put("a.bin", b"hello"))
        self.assertEqual(status_of(r), 503, r)
        out = self.srv.output()
        self.assertEqual(self.srv.stop(timeout=20), 0, out + self.srv_output_safe())

    def srv_output_safe(self):
        try:
            return self.srv.output()
        except ValueError:
            return ""


class HookHttpStartFailure(unittest.TestCase):
    """A --hook-http URL that does not resolve is refused at start (exit status 1, no hang); an
    IPv6 literal ([::1]:port) is a valid URL."""

    def test_bad_hook_url_exits(self):
        root = tempfile.mkdtemp(prefix="sluice-review-")
        try:
            for url in ("http://no-such-host.invalid/hook", "http://user:pw@127.0.0.1/x",
                        "http://[::1/hook"):
                p = subprocess.run([BIN, "--listen", "127.0.0.1:0", "--root", root,
                                    "--hook-http", url], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, timeout=15)
                self.assertEqual(p.returncode, 1, (url, p.stderr))
        except subprocess.TimeoutExpired:
            self.fail("sluice hangs when --hook-http cannot be resolved")
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def test_ipv6_hook_url_starts(self):
        root = tempfile.mkdtemp(prefix="sluice-review-")
        p = subprocess.Popen([BIN, "--listen", "127.0.0.1:0", "--root", root, "--hook-http",
                              "http://[::1]:9/hook"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            line = p.stderr.readline()
            self.assertIn(b"listening on", line)
        finally:
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(timeout=15), 0)
            shutil.rmtree(root, ignore_errors=True)


class TusCreationKeepAlive(Dirs):
    """With on_request installed, a tus creation without a body is answered from the resumed
    *first* call (routes.c PH_HOOK -> sl__tus_after_hook -> sl__tus_final), and a response queued
    on the first call closes the connection (DESIGN.md section 3 rule 5)."""

    def test_tus_creation_keeps_connection_with_hook(self):
        self.srv = Server("--hook-exec", self.dir).start()  # no programs: allowed at once
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        try:
            s.sendall(b"POST /uploads/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n"
                      b"Upload-Length: 5\r\n\r\n")
            r, _ = read_until_done(s, 10)
            self.assertEqual(status_of(r), 201, r)
            self.assertNotIn(b"connection: close", r.lower(), r)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            r2, how = read_until_done(s, 5)
            self.assertEqual(status_of(r2), 200, (r2, how))
        finally:
            s.close()
        self.assertEqual(self.srv.stop(), 0)


class MetadataInHookEvent(Dirs):
    """The request event of a tus creation has no metadata (sl__event_init never sets it), and
    json_str (hook_cmd.c) escapes into a 3*SL_NAME_MAX+64 buffer, so the complete event's
    Upload-Metadata (up to 8 KiB) is cut silently."""

    def test_events_carry_whole_metadata(self):
        for ev in ("request", "complete"):
            script(self.dir, ev, '#!/bin/sh\ncat > "$(dirname "$0")/%s.json"\nexit 0\n' % ev)
        self.srv = Server("--hook-exec", self.dir).start()
        md = "filename " + base64.b64encode(b"x" * 6000).decode()
        r = exchange(self.srv.port, ("POST /uploads/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n"
                                     "Upload-Length: 5\r\nUpload-Metadata: %s\r\n"
                                     "Content-Type: application/offset+octet-stream\r\n"
                                     "Content-Length: 5\r\n\r\nhello" % md).encode())
        self.assertEqual(status_of(r), 201, r)
        # each hook writes its file and exits: once no hook program runs, both are whole
        wait_until(lambda: all(os.path.exists(os.path.join(self.dir, ev + ".json"))
                               for ev in ("request", "complete")) and not self.srv.children(),
                   "the request and complete hooks to have run")
        got = {}
        for ev in ("request", "complete"):
            with open(os.path.join(self.dir, ev + ".json")) as f:
                got[ev] = json.loads(f.read()).get("metadata")
        self.assertEqual([len(got["request"] or ""), len(got["complete"] or "")], [len(md), len(md)])
        self.assertEqual(self.srv.stop(), 0)


class EscapedGrandchild(Dirs):
    """exec_done (hook_cmd.c) waits for EOF on stdout; a grandchild that left the process group
    keeps it open, the timeout's kill(-pgid) does not reach it, so the call's handles stay open and
    the binary does not exit on SIGTERM until that grandchild does."""

    def test_stop_is_not_held_by_a_hook_grandchild(self):
        pidfile = os.path.join(self.dir, "gc.pid")
        script(self.dir, "request", "#!/bin/sh\ncat >/dev/null\n"
               "setsid sh -c 'echo $$ > %s.tmp && mv %s.tmp %s; exec sleep 600' &\nexit 0\n"
               % (pidfile, pidfile, pidfile))
        self.srv = Server("--hook-exec", self.dir, "--hook-timeout", "1",
                          "--shutdown-timeout", "1").start()
        try:
            exchange(self.srv.port, put("a.bin", b"hello"))  # 503 after 1 s: stdout still open
            with open(wait_until(lambda: os.path.exists(pidfile) and pidfile,
                                 "the grandchild's pid")) as f:
                grandchild = int(f.read())
            self.srv.send(signal.SIGTERM)
            try:
                self.srv.wait(timeout=LIMIT)
            except subprocess.TimeoutExpired:
                self.fail("sluice did not exit on SIGTERM (held by a hook grandchild)")
            # it exited while the grandchild (which holds the hook's stdout) still runs
            os.kill(grandchild, 0)
        finally:
            try:
                with open(pidfile) as f:
                    os.kill(int(f.read().strip()), signal.SIGKILL)
            except (OSError, ValueError):
                pass


class HookHttpAnswers(Dirs):
    """The hook-http client: a 2xx answer's "name" is found with strstr + the next quote, so
    {"name": null, "user": "bob"} renames the upload to "user"; and an answer is only read at
    EOF, so a server that keeps the connection open after a complete answer is a timeout."""

    def serve(self, answer, keep_open):
        """A hook server answering `answer`; with keep_open it holds each connection open after
        the answer until the test ends."""
        self.done = threading.Event()
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(8)
        self.ls = ls

        def loop():
            while True:
                try:
                    c, _ = ls.accept()
                except OSError:
                    return
                buf = b""
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        break
                    buf += d
                c.sendall(answer)
                if keep_open:
                    self.done.wait(LIMIT)
                c.close()
        threading.Thread(target=loop, daemon=True).start()
        return ls.getsockname()[1]

    def tearDown(self):
        self.done.set()
        self.ls.close()
        super().tearDown()

    def test_name_null_does_not_rename(self):
        body = b'{"name": null, "user": "bob"}'
        port = self.serve(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
                          False)
        self.srv = Server("--hook-http", "http://127.0.0.1:%d/hook" % port).start()
        r = exchange(self.srv.port, put("orig.bin", b"hello"))
        self.assertEqual(status_of(r), 201, r)
        self.assertIn(b'"name":"orig.bin"', r)
        self.assertEqual(self.srv.stop(), 0)

    def test_complete_answer_on_kept_alive_connection(self):
        port = self.serve(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", True)
        self.srv = Server("--hook-http", "http://127.0.0.1:%d/hook" % port, "--hook-timeout", "1",
                          "--hook-retries", "0").start()
        r = exchange(self.srv.port, put("ka.bin", b"hello"))
        self.assertEqual(status_of(r), 201, r)
        self.assertEqual(self.srv.stop(), 0)


class EmbedAuthGap(unittest.TestCase):
    """examples/embed.c guards its uploads with a bearer token; on_request now sees every request
    for sluice's URLs, so a DELETE without the token is refused too."""

    def test_delete_without_token_is_refused(self):
        root = tempfile.mkdtemp(prefix="sluice-review-")
        p = subprocess.Popen([EMBED, "0", root, "t0ken"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        try:
            line = p.stderr.readline().decode()
            port = int(line.rsplit(":", 1)[1].split()[0])
            r = exchange(port, b"PUT /api/upload/files/v.txt HTTP/1.1\r\nHost: x\r\n"
                               b"Authorization: Bearer t0ken\r\nContent-Length: 3\r\n\r\nabc")
            self.assertEqual(status_of(r), 201, r)
            r = exchange(port, b"DELETE /api/upload/files/v.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(status_of(r), 401, r)  # no token (examples/embed.c): 401
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(30)
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
