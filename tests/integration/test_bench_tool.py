"""sluice-bench against a real sluice: every mode, counts against the files on disk, a corrupted
upload reported as a digest mismatch, bad arguments, an unreachable or garbage server, bounds.
"Expect: 100-continue" (bodies over 1 MiB, as curl): 2 MiB uploads in every mode succeed, the
server reads them itself (sluice_direct_reads_total); over --max-size they get 413 and the bodies
never cross the wire (a counting proxy); --no-expect sends them; a server that ignores Expect
gets the body after 1 s.

The binary comes from $SLUICE_BENCH_BIN (ctest sets it), else build/sluice-bench.
"""
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, TOP, Server, ServerTest  # noqa: E402

BENCH = os.environ.get("SLUICE_BENCH_BIN", os.path.join(TOP, "build", "sluice-bench"))
DIRECT = "sluice_direct_reads_total"


def bench(*args, timeout=120):
    p = subprocess.run([BENCH] + list(args), capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def files_under(root):
    out = {}
    for dp, dn, fn in os.walk(root):
        if os.path.relpath(dp, root).split(os.sep)[0] == ".sluice":
            continue
        for f in fn:
            p = os.path.join(dp, f)
            out[os.path.relpath(p, root)] = os.path.getsize(p)
    return out


class CorruptingProxy:
    """Forwards 127.0.0.1 TCP to the server and flips one byte of the `nth` request body (the
    first byte after the end of the head of the nth connection's first request); nth=0 flips
    nothing. `up` counts the bytes that went from the clients to the server."""

    def __init__(self, port, nth):
        self.port, self.nth, self.count, self.flipped = port, nth, 0, 0
        self.up, self.lock = 0, threading.Lock()
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.lport = self.ls.getsockname()[1]
        self.stop = False
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        self.ls.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.ls.accept()
            except socket.timeout:
                continue
            self.count += 1
            threading.Thread(target=self.pipe, args=(c, self.count == self.nth),
                             daemon=True).start()

    def pipe(self, c, corrupt):
        s = socket.create_connection(("127.0.0.1", self.port))
        head, done, up_open = b"", not corrupt, True
        try:
            while not self.stop:
                r, _, _ = select.select([c, s], [], [], 0.2)
                for a in r:
                    data = a.recv(65536)
                    if not data:
                        return
                    if a is s:
                        c.sendall(data)
                        continue
                    with self.lock:
                        self.up += len(data)
                    if not done:
                        head += data
                        i = head.find(b"\r\n\r\n")
                        if i >= 0 and len(head) > i + 4 + 100:
                            pos = len(data) - (len(head) - (i + 4 + 100))
                            data = data[:pos] + bytes([data[pos] ^ 0xFF]) + data[pos + 1:]
                            done, self.flipped = True, 1
                    if up_open:
                        try:
                            s.sendall(data)
                        except OSError:  # the server stopped reading: its answer may follow
                            up_open = False
        except OSError:  # a reset: the client sees the end
            pass
        finally:
            c.close()
            s.close()

    def close(self):
        self.stop = True
        self.ls.close()


class BenchModes(ServerTest):
    server_args = ("--durability", "none")

    def run_json(self, *args):
        rc, out, err = bench(self.srv.url + "/", "--json", "--no-progress", *args)
        try:
            rep = json.loads(out)
        except ValueError:
            self.fail("not JSON (rc %d): %r %r" % (rc, out, err))
        return rc, rep, err

    def test_each_mode_counts_agree_with_the_disk(self):
        for mode in ("put", "post", "multipart", "tus"):
            with self.subTest(mode=mode):
                before = files_under(self.srv.root)
                rc, rep, err = self.run_json("--mode", mode, "-c", "4", "-n", "12", "-s",
                                             "1K-256K", "--seed", "7", "--name-prefix", "it" + mode)
                self.assertEqual(rc, 0, (rep, err))
                self.assertEqual((rep["ok"], rep["failed"], rep["uploads_started"]), (12, 0, 12))
                new = {k: v for k, v in files_under(self.srv.root).items() if k not in before}
                self.assertEqual(len(new), 12, new)
                self.assertEqual(sum(new.values()), rep["bytes_ok"])
                if mode in ("put", "tus"):
                    self.assertEqual(sorted(new), sorted("it%s-7-%d.bin" % (mode, i)
                                                         for i in range(12)))
                self.assertGreater(rep["throughput_bytes_per_s"], 0)
                lat = rep["latency_ms"]
                self.assertLessEqual(lat["p50"], lat["p99"])
                self.assertLessEqual(lat["p99"], lat["max"] * 1.04)

    def test_verify_get_and_chunked_and_no_keepalive(self):
        rc, rep, err = self.run_json("--mode", "put", "--chunked", "--no-keepalive", "-c", "3",
                                     "-n", "9", "-s", "lognormal:64K,1.0,1M", "--verify-get")
        self.assertEqual(rc, 0, (rep, err))
        self.assertEqual(rep["ok"], 9)

    def test_tus_cuts_and_resumes(self):
        rc, rep, err = self.run_json("--mode", "tus", "-c", "3", "-n", "6", "-s", "2M",
                                     "--chunk-size", "256K", "--disconnect", "0.5",
                                     "--verify-get", "--seed", "3")
        self.assertEqual(rc, 0, (rep, err))
        self.assertEqual(rep["ok"], 6)
        self.assertGreater(rep["resumes"], 0)
        self.assertEqual(self.srv.tmp_files(), [])

    def test_a_corrupted_upload_is_a_digest_mismatch(self):
        proxy = CorruptingProxy(self.srv.port, nth=2)
        try:
            rc, out, err = bench("http://127.0.0.1:%d/files/" % proxy.lport, "--json",
                                 "--no-progress", "--no-keepalive", "-c", "1", "-n", "4", "-s",
                                 "64K")
        finally:
            proxy.close()
        rep = json.loads(out)
        self.assertEqual(proxy.flipped, 1)
        self.assertEqual(rc, 1, (rep, err))
        self.assertEqual((rep["ok"], rep["failed"]), (3, 1))
        self.assertEqual(rep["errors"]["by_cause"].get("digest"), 1, rep)

    def test_server_pid_and_duration_bound(self):
        # bounded by the duration alone (no -n): it ends by itself (bench's subprocess timeout is
        # the hang guard), after starting uploads for the 1.5 s, and every one it started ended
        rc, rep, err = self.run_json("-c", "4", "-d", "1.5", "-s", "4K", "--server-pid",
                                     str(self.srv.pid()))
        self.assertEqual(rc, 0, (rep, err))
        self.assertGreaterEqual(rep["elapsed_s"], 1.5, rep)
        self.assertEqual(rep["uploads_started"], rep["ok"] + rep["failed"], rep)
        self.assertGreater(rep["ok"], 10)
        self.assertGreater(rep["server"]["rss_peak_kib"], 1000)
        self.assertGreaterEqual(rep["server"]["cpu_s"], 0)

    def test_max_time_aborts_slow_uploads(self):
        rc, rep, err = self.run_json("-c", "2", "-n", "2", "-s", "1M", "--rate", "64K",
                                     "--max-time", "1")
        self.assertEqual(rc, 1)
        self.assertTrue(rep["aborted"], rep)
        self.assertEqual(rep["ok"], 0)


def metric(srv, name):
    """The sum over the workers of one of the server's counters."""
    out = subprocess.run(["curl", "-sS", srv.url + "/metrics"], capture_output=True, text=True,
                         timeout=10).stdout
    return sum(int(float(x.split()[-1])) for x in out.splitlines() if x.startswith(name + "{"))


class BenchExpect(ServerTest):
    """Bodies over --expect-threshold (1 MiB) go after the server's 100 Continue."""

    server_args = ("--durability", "none")

    def test_2m_uploads_with_expect_succeed_verify_and_are_read_directly(self):
        for mode in ("put", "post", "multipart", "tus"):
            with self.subTest(mode=mode):
                before, direct0 = files_under(self.srv.root), metric(self.srv, DIRECT)
                # verified by the 201's SHA-256; tus, whose 204 has none, by reading back
                rc, out, err = bench(self.srv.url + "/", "--json", "--no-progress", "--mode", mode,
                                     "-c", "4", "-n", "8", "-s", "2M", "--chunk-size", "1536K",
                                     "--name-prefix", "ex" + mode,
                                     *(["--verify-get"] if mode == "tus" else []))
                rep = json.loads(out)
                self.assertEqual(rc, 0, (rep, err))
                self.assertEqual((rep["ok"], rep["failed"]), (8, 0))
                new = {k: v for k, v in files_under(self.srv.root).items() if k not in before}
                self.assertEqual(sorted(new.values()), [2 << 20] * 8)
                ex = rep["expect"]
                self.assertEqual((ex["threshold"], ex["timeout_s"]), (1 << 20, 1.0))
                # tus: the 1.5 MiB PATCH says Expect, the 0.5 MiB one does not
                self.assertEqual((ex["requests"], ex["continued"], ex["timed_out"],
                                  ex["answered"]), (8, 8, 0, 0))
                # tus: both PATCHes of each upload (the 0.5 MiB one without Expect), though they
                # follow a POST on their connection
                self.assertEqual(metric(self.srv, DIRECT) - direct0, 16 if mode == "tus" else 8)

    def test_no_expect(self):
        direct0 = metric(self.srv, DIRECT)
        rc, out, err = bench(self.srv.url + "/", "--no-progress", "--no-expect", "-c", "4", "-n",
                             "8", "-s", "2M")
        self.assertEqual(rc, 0, (out, err))
        self.assertIn(", no Expect\n", out)
        self.assertIn("8 ok, 0 failed", out)
        self.assertNotIn("  expect ", out)
        # no Expect: sluice reads the bodies itself all the same (after libmicrohttpd's first
        # piece when one came with the header)
        self.assertEqual(metric(self.srv, DIRECT) - direct0, 8)
        rc, out, err = bench(self.srv.url + "/", "--no-progress", "-c", "1", "-n", "1", "-s", "2M")
        self.assertIn(", Expect: 100-continue over 1M (wait 1 s)\n", out)
        self.assertIn("1 requests: 1 continued", out)


class BenchSignedUrl(ServerTest):
    """A URL's query goes with every creation: tus through a signed creation URL (`sluice sign`),
    each PATCH through the signed Location the server answers with."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sluice-bench-signed-")
        self.key = os.path.join(self.dir, "key")
        with open(self.key, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        self.srv = Server("--durability", "none", "--sign-key", self.key).start()

    def tearDown(self):
        try:
            super().tearDown()  # stopped, exit status 0, no sanitizer report in its output
        finally:
            subprocess.run(["rm", "-rf", self.dir])

    def test_tus_through_a_signed_creation_url(self):
        p = subprocess.run([BIN, "sign", "--key", self.key, "--method", "POST", "--path",
                            "/uploads/", "--expires", "600", "--max-size", "1M", "--base",
                            self.srv.url], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        url = p.stdout.strip()
        self.assertIn("?sl-expires=", url)
        rc, out, err = bench(url, "--mode", "tus", "-c", "4", "-n", "20", "-s", "1K-64K",
                             "--json", "--no-progress", "--name-prefix", "signed")
        self.assertEqual(rc, 0, (out, err))
        rep = json.loads(out)
        self.assertEqual((rep["ok"], rep["failed"]), (20, 0))
        self.assertEqual(sorted(f for f in files_under(self.srv.root) if f.startswith("signed")),
                         sorted("signed-1-%d.bin" % i for i in range(20)))
        # without the query every creation is refused (401): nothing stored
        rc, out, err = bench(self.srv.url + "/uploads/", "--mode", "tus", "-c", "2", "-n", "4",
                             "-s", "1K", "--json", "--no-progress", "--name-prefix", "open")
        self.assertNotEqual(rc, 0)
        self.assertEqual(json.loads(out)["failed"], 4)
        self.assertFalse([f for f in files_under(self.srv.root) if f.startswith("open")])


    def test_each_put_signed_for_its_name(self):
        rc, out, err = bench(self.srv.url + "/files/", "--sign-key", self.key, "-c", "4", "-n",
                             "20", "-s", "1K-64K", "--verify-get", "--json", "--no-progress",
                             "--name-prefix", "sp")  # each GET back signed too
        self.assertEqual(rc, 0, (out, err))
        self.assertEqual((json.loads(out)["ok"], json.loads(out)["failed"]), (20, 0))
        self.assertEqual(sorted(f for f in files_under(self.srv.root) if f.startswith("sp")),
                         sorted("sp-1-%d.bin" % i for i in range(20)))
        other = os.path.join(self.dir, "other")
        with open(other, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        rc, out, err = bench(self.srv.url + "/files/", "--sign-key", other, "-c", "2", "-n", "4",
                             "-s", "1K", "--json", "--no-progress", "--name-prefix", "wrong")
        self.assertNotEqual(rc, 0)
        self.assertEqual(json.loads(out)["failed"], 4)  # 403: another key's signatures
        self.assertFalse([f for f in files_under(self.srv.root) if f.startswith("wrong")])


class BenchExpectRefused(ServerTest):
    """Over --max-size, sluice answers 413 instead of 100: the body must not be sent."""

    server_args = ("--durability", "none", "--max-size", "1M")

    def run_via_proxy(self, *args):
        proxy = CorruptingProxy(self.srv.port, nth=0)
        try:
            rc, out, err = bench("http://127.0.0.1:%d/files/" % proxy.lport, "--json",
                                 "--no-progress", "-c", "4", "-n", "8", "-s", "2M", *args)
        finally:
            proxy.close()
        return rc, json.loads(out), err, proxy.up

    def test_413_before_the_body_and_the_body_is_not_sent(self):
        received0 = metric(self.srv, "sluice_received_bytes_total")
        rc, rep, err, up = self.run_via_proxy()
        self.assertEqual(rc, 1)
        self.assertEqual((rep["ok"], rep["failed"]), (0, 8), rep)
        self.assertEqual(rep["errors"]["by_status"], {"413": 8}, rep)
        self.assertEqual(rep["errors"]["by_cause"]["status"], 8, rep)
        self.assertEqual((rep["expect"]["requests"], rep["expect"]["answered"],
                          rep["expect"]["continued"], rep["expect"]["timed_out"]), (8, 8, 0, 0))
        self.assertEqual(rep["bytes_sent"], 0)
        self.assertLess(up, 8 * 1024, "more than the heads went to the server")  # the proof
        # true, but no proof: sluice counts no byte of a refused body, sent or not
        self.assertLess(metric(self.srv, "sluice_received_bytes_total") - received0, 8 << 20)
        self.assertEqual(self.srv.final_files(), [])

    def test_without_expect_the_bodies_are_sent(self):
        rc, rep, err, up = self.run_via_proxy("--no-expect")
        self.assertEqual(rc, 1)
        self.assertEqual((rep["ok"], rep["failed"]), (0, 8), rep)
        self.assertIsNone(rep["expect"])
        self.assertGreater(rep["bytes_sent"], 8 << 10)
        self.assertGreater(up, 8 << 10)  # body bytes, before the early 413 stopped them
        self.assertEqual(self.srv.final_files(), [])


class IgnoresExpect:
    """A server that never sends 100 Continue: it reads the head, then the whole body, notes how
    long the body took to start, and answers 201."""

    def __init__(self):
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(8)
        self.port = self.ls.getsockname()[1]
        self.gaps, self.heads, self.stop = [], [], False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        self.ls.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.ls.accept()
            except socket.timeout:
                continue
            threading.Thread(target=self.one, args=(c,), daemon=True).start()

    def one(self, c):
        c.settimeout(20)
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += c.recv(65536)
        head, _, body = buf.partition(b"\r\n\r\n")
        t0 = time.time()
        self.heads.append(head.decode())
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        while len(body) < length:
            body += c.recv(65536)
            if len(body) and t0 is not None:
                self.gaps.append(time.time() - t0)
                t0 = None
        c.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        c.close()

    def close(self):
        self.stop = True
        self.ls.close()


class BenchErrors(unittest.TestCase):
    def test_a_server_that_ignores_expect_gets_the_body_after_1s(self):
        srv = IgnoresExpect()
        try:
            rc, out, err = bench("http://127.0.0.1:%d/" % srv.port, "--json", "--no-progress",
                                 "-c", "2", "-n", "2", "-s", "2M", timeout=30)
        finally:
            srv.close()
        rep = json.loads(out)
        self.assertEqual(rc, 0, (rep, err))
        self.assertEqual(rep["ok"], 2)
        self.assertEqual((rep["expect"]["timed_out"], rep["expect"]["continued"]), (2, 0))
        self.assertTrue(all("Expect: 100-continue" in h for h in srv.heads), srv.heads)
        self.assertEqual(len(srv.gaps), 2)
        self.assertTrue(all(0.9 <= g < 5 for g in srv.gaps), srv.gaps)  # curl's 1 s wait

    def test_bad_arguments_exit_2_with_a_message(self):
        for args in ([], ["ftp://x/"], ["http://127.0.0.1:1/", "-c", "0"],
                     ["http://127.0.0.1:1/", "-s", "12Q"], ["http://127.0.0.1:1/", "--mode", "x"],
                     ["http://127.0.0.1:1/", "--disconnect", "0.5"],
                     ["http://127.0.0.1:1/", "--bogus"]):
            with self.subTest(args=args):
                rc, out, err = bench(*args)
                self.assertEqual(rc, 2, (out, err))
                self.assertTrue(err.startswith("sluice-bench: "), err)
                self.assertEqual(err.count("\n"), 1, err)

    def test_unreachable_server(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        rc, out, err = bench("http://127.0.0.1:%d/" % port, "-n", "50", "-c", "4", "--json",
                             "--no-progress", timeout=30)
        self.assertEqual(rc, 1)
        self.assertIn("connection refused", err)
        self.assertGreaterEqual(json.loads(out)["errors"]["by_cause"]["refused"], 4)

    def test_garbage_server(self):
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(8)
        stop = []

        def serve():
            ls.settimeout(0.2)
            while not stop:
                try:
                    c, _ = ls.accept()
                except socket.timeout:
                    continue
                c.recv(4096)
                c.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
                c.close()
        threading.Thread(target=serve, daemon=True).start()
        try:
            rc, out, err = bench("http://127.0.0.1:%d/" % ls.getsockname()[1], "-n", "3",
                                 "-s", "1K", "--json", "--no-progress", timeout=30)
        finally:
            stop.append(1)
        rep = json.loads(out)
        self.assertEqual(rc, 1)
        self.assertEqual(rep["errors"]["by_cause"].get("protocol"), 3, rep)


if __name__ == "__main__":
    unittest.main()
