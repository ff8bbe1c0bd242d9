"""sluice-bench against a real sluice: every mode, counts against the files on disk, a corrupted
upload reported as a digest mismatch, bad arguments, an unreachable or garbage server, bounds.

The binary comes from $SLUICE_BENCH_BIN (ctest sets it), else build/sluice-bench.
"""
import json
import os
import select
import socket
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TOP, ServerTest  # noqa: E402

BENCH = os.environ.get("SLUICE_BENCH_BIN", os.path.join(TOP, "build", "sluice-bench"))


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
    first byte after the end of the head of the nth connection's first request)."""

    def __init__(self, port, nth):
        self.port, self.nth, self.count, self.flipped = port, nth, 0, 0
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
        head, done = b"", not corrupt
        while not self.stop:
            r, _, _ = select.select([c, s], [], [], 0.2)
            for a in r:
                data = a.recv(65536)
                if not data:
                    c.close()
                    s.close()
                    return
                if a is c and not done:
                    head += data
                    i = head.find(b"\r\n\r\n")
                    if i >= 0 and len(head) > i + 4 + 100:
                        pos = len(data) - (len(head) - (i + 4 + 100))
                        data = data[:pos] + bytes([data[pos] ^ 0xFF]) + data[pos + 1:]
                        done, self.flipped = True, 1
                (s if a is c else c).sendall(data)

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


class BenchErrors(unittest.TestCase):
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
