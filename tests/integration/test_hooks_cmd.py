"""The binary's hooks: --hook-exec DIR (a program per event) and --hook-http URL (POST JSON).

A request hook decides before the body is read (no 100 Continue on a refusal), can rename, and
is bounded by --hook-timeout; complete and abort events arrive once each, with the upload's
name, size and digest.
"""
import hashlib
import http.server
import json
import os
import shutil
import socket
import stat
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LIMIT, Server, exchange, read_until_done, status_of, wait_until  # noqa: E402


def put(name, body, extra=b""):
    return (b"PUT /files/%s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n"
            % (name.encode(), extra, len(body)) + body)


class HookExec(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sluice-hooks-")
        self.script("request", """#!/bin/sh
in=$(cat); echo "$in" >> "$(dirname "$0")/request.log"
case "$in" in
  *forbidden*) echo "no forbidden names"; exit 1 ;;
  *rename-me*) echo "renamed/by-hook.bin"; exit 0 ;;
  *sleepy*) while [ ! -e "$(dirname "$0")/release" ]; do sleep 0.05; done; exit 0 ;;
esac
exit 0
""")
        for ev in ("complete", "abort"):
            self.script(ev, '#!/bin/sh\ncat >> "$(dirname "$0")/%s.log"\n' % ev)
        # time enough for a shell's fork and exec on a loaded machine under ASan; the timeout
        # itself is tested with 1 s (test_a_slow_hook_times_out_with_503)
        self.srv = Server("--hook-exec", self.dir, "--hook-timeout", "10").start()

    def tearDown(self):
        out = self.srv.output()
        self.assertEqual(self.srv.stop(), 0, out)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.assertNotIn("AddressSanitizer", out)

    def script(self, name, text):
        p = os.path.join(self.dir, name)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, stat.S_IRWXU)

    def settled(self):
        """Wait until no hook program of the server is running: every event it has sent so far
        has been written to its log."""
        wait_until(lambda: not self.srv.children(), "the hook programs to exit")

    def lines(self, ev):
        try:
            with open(os.path.join(self.dir, ev + ".log")) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def test_allow_complete_once_with_digest(self):
        body = os.urandom(200000)
        r = exchange(self.srv.port, put("ok.bin", body))
        self.assertEqual(status_of(r), 201, r)
        done = wait_until(lambda: self.lines("complete"), "the complete event")
        self.settled()
        done = self.lines("complete")
        self.assertEqual(len(done), 1, done)
        self.assertEqual(done[0]["event"], "complete")
        self.assertEqual(done[0]["name"], "ok.bin")
        self.assertEqual(done[0]["bytes"], len(body))
        self.assertEqual(done[0]["sha256"], hashlib.sha256(body).hexdigest())
        req = self.lines("request")
        self.assertEqual((req[0]["event"], req[0]["method"], req[0]["length"]),
                         ("request", "PUT", len(body)))

    def test_refusal_reads_no_body(self):
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        s.sendall(b"PUT /files/forbidden.bin HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                  b"Content-Length: 1000000\r\n\r\n")
        r, _ = read_until_done(s, LIMIT)
        s.close()
        self.assertEqual(status_of(r), 403, r)
        self.assertNotIn(b"100 Continue", r)
        self.assertIn(b"no forbidden names", r)
        self.assertFalse(os.path.exists(os.path.join(self.srv.root, "forbidden.bin")))
        # No event may follow. Barrier: the server has finished the refused request (any event
        # of it is sent by then), a later upload's complete event has arrived, and no hook
        # program is still running; only then are the logs final.
        # (requests are counted as they end: each scrape counts the ones before it, not itself)
        scrapes = [0]

        def ended():
            scrapes[0] += 1
            return self.srv.metric("sluice_requests_total") >= scrapes[0]

        wait_until(ended, "the refused request to end")
        r = exchange(self.srv.port, put("barrier.bin", b"later"))
        self.assertEqual(status_of(r), 201, r)
        wait_until(lambda: self.lines("complete"), "the later upload's complete event")
        self.settled()
        self.assertEqual([e["name"] for e in self.lines("complete")], ["barrier.bin"])
        self.assertEqual(self.lines("abort"), [])
        m = self.srv.metrics()
        self.assertEqual(sum(v for (n, _), v in m.items() if n == "sluice_uploads_failed_total"), 0)
        self.assertEqual(sum(v for (n, _), v in m.items() if n == "sluice_uploads_started_total"), 1)

    def test_rename(self):
        r = exchange(self.srv.port, put("rename-me.bin", b"hello"))
        self.assertEqual(status_of(r), 201, r)
        self.assertIn(b'"name":"renamed/by-hook.bin"', r)
        with open(os.path.join(self.srv.root, "renamed", "by-hook.bin"), "rb") as f:
            self.assertEqual(f.read(), b"hello")

    def test_abort_on_disconnect(self):
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        s.sendall(b"PUT /files/gone.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
        # the request hook runs first; then the body streams
        wait_until(lambda: self.srv.metric("sluice_uploads_started_total") == 1, "the upload to start")
        s.sendall(b"x" * 10000)
        wait_until(lambda: self.srv.metric("sluice_received_bytes_total") == 10000,
                   "the server to receive the 10000 bytes")
        s.close()
        wait_until(lambda: self.lines("abort"), "the abort event")
        self.settled()
        ab = self.lines("abort")
        self.assertEqual(len(ab), 1, ab)
        self.assertEqual(ab[0]["name"], "gone.bin")
        self.assertIn("reason", ab[0])
        self.assertEqual(self.lines("complete"), [])

    def test_a_slow_hook_times_out_with_503(self):
        # The hook never ends on its own (it waits for a file the test creates only after the
        # answer): the 503 can only come from --hook-timeout, not from the hook's exit.
        self.assertEqual(self.srv.stop(), 0)
        self.srv = Server("--hook-exec", self.dir, "--hook-timeout", "1").start()
        try:
            r = exchange(self.srv.port, put("sleepy.bin", b"zz"), timeout=LIMIT)
        finally:
            open(os.path.join(self.dir, "release"), "w").close()
        self.assertEqual(status_of(r), 503, r)
        self.assertFalse(os.path.exists(os.path.join(self.srv.root, "sleepy.bin")))


class Recorder(http.server.BaseHTTPRequestHandler):
    events = []
    tries = {}

    def do_POST(self):
        ev = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Recorder.events.append(ev)
        name = ev.get("name", "")
        if ev["event"] == "request":
            Recorder.tries[name] = Recorder.tries.get(name, 0) + 1
        status, body = 200, b"{}"
        if ev["event"] == "request":
            if "forbidden" in name:
                status, body = 403, b"no thanks\n"
            elif "rename-me" in name:
                body = b'{"name":"renamed/http.bin"}'
            elif "flaky" in name and Recorder.tries[name] == 1:
                status = 500
            elif "down" in name:
                status = 500
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class HookHttp(unittest.TestCase):
    def setUp(self):
        Recorder.events, Recorder.tries = [], {}
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        url = "http://127.0.0.1:%d/hooks" % self.httpd.server_address[1]
        self.srv = Server("--hook-http", url, "--hook-timeout", "2", "--hook-retries", "1").start()

    def tearDown(self):
        out = self.srv.output()
        self.assertEqual(self.srv.stop(), 0, out)
        self.httpd.shutdown()
        self.httpd.server_close()

    def test_decisions_retries_and_events(self):
        port = self.srv.port
        r = exchange(port, put("ok.bin", b"abc"))
        self.assertEqual(status_of(r), 201, r)
        r = exchange(port, put("forbidden.bin", b"abc"))
        self.assertEqual(status_of(r), 403, r)
        self.assertIn(b"no thanks", r)
        r = exchange(port, put("rename-me.bin", b"abc"))
        self.assertEqual(status_of(r), 201, r)
        self.assertTrue(os.path.exists(os.path.join(self.srv.root, "renamed", "http.bin")))
        r = exchange(port, put("flaky.bin", b"abc"))  # a 500, then a 200 on the retry
        self.assertEqual(status_of(r), 201, r)
        self.assertEqual(Recorder.tries["flaky.bin"], 2)  # request events only
        r = exchange(port, put("down.bin", b"abc"))  # 500 twice: 503
        self.assertEqual(status_of(r), 503, r)
        wait_until(lambda: len([e for e in Recorder.events if e["event"] == "complete"]) >= 3,
                   "three complete events")
        done = sorted(e["name"] for e in Recorder.events if e["event"] == "complete")
        self.assertEqual(done, ["flaky.bin", "ok.bin", "renamed/http.bin"])
        self.assertFalse(os.path.exists(os.path.join(self.srv.root, "down.bin")))


if __name__ == "__main__":
    unittest.main()
