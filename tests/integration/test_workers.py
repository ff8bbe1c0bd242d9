"""--workers: uploads land through every worker, a killed worker is replaced without touching the
others' uploads, SIGHUP replaces them all while uploads go on and refuses none; /metrics in strict
Prometheus text format agrees with what the test did; the access log is one JSON line per
request, from every worker.
"""
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LIMIT, Server, exchange, status_of, wait_until  # noqa: E402

METRIC = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"'
                    r'(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*)\})? (-?[0-9.e+-]+|\+Inf|NaN)$')


def parse_metrics(text):
    """A strict reader of the Prometheus text format (0.0.4): every line a HELP, a TYPE or a
    sample of a declared family; names and labels well formed; histograms consistent. Returns
    {(name, frozenset(labels)): value}."""
    types, samples = {}, {}
    assert text.endswith("\n"), "no final newline"
    for line in text.splitlines():
        if line.startswith("# HELP "):
            assert len(line.split(" ", 3)) == 4, line
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram"), line
            assert name not in types, "TYPE twice: " + name
            types[name] = kind
            continue
        m = METRIC.match(line)
        assert m, "not a sample: %r" % line
        name, labels = m.group(1), m.group(3) or ""
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family in types, "sample before its TYPE: " + line
        if types[family] == "counter":
            assert name.endswith("_total"), name
        lab = frozenset(tuple(kv.split("=", 1)) for kv in labels.split(",") if kv)
        assert (name, lab) not in samples, "duplicate sample: " + line
        samples[(name, lab)] = float(m.group(5))
    for (name, lab), v in samples.items():  # histograms: buckets grow, +Inf is the count
        if name.endswith("_bucket"):
            base = name[:-7]
            rest = frozenset(kv for kv in lab if kv[0] != "le")
            assert v <= samples[(base + "_count", rest)], name
            if ("le", '"+Inf"') in lab:
                assert v == samples[(base + "_count", rest)], name
    return samples


def by_worker(samples, name):
    out = {}
    for (n, lab), v in samples.items():
        if n == name:
            out[dict(lab)["worker"].strip('"')] = v
    return out


class Workers(unittest.TestCase):
    def setUp(self):
        self.log = tempfile.NamedTemporaryFile(prefix="sluice-access-", delete=False).name
        self.srv = Server("--workers", "2", "--access-log", self.log,
                          "--shutdown-timeout", "5").start()

    def tearDown(self):
        out = self.srv.output()
        rc = self.srv.stop()
        os.unlink(self.log)
        self.assertEqual(rc, 0, out)
        self.assertNotIn("AddressSanitizer", out)

    def metrics(self):
        r = exchange(self.srv.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(status_of(r), 200, r)
        return parse_metrics(r.split(b"\r\n\r\n", 1)[1].decode())

    def log_lines(self):
        with open(self.log) as f:
            return [json.loads(line) for line in f]

    def put(self, name, body):
        return exchange(self.srv.port, b"PUT /files/%s HTTP/1.1\r\nHost: x\r\nConnection: close"
                        b"\r\nContent-Length: %d\r\n\r\n" % (name.encode(), len(body)) + body)

    def test_uploads_go_through_both_workers_and_metrics_agree(self):
        # the kernel spreads connections over the workers, not evenly: batches of 60 until both
        # served some (one batch nearly always does)
        bodies = {}
        for batch in range(8):
            more = {"w/%d-%d.bin" % (batch, i): os.urandom(4096 + i) for i in range(60)}
            with concurrent.futures.ThreadPoolExecutor(12) as ex:
                results = list(ex.map(lambda kv: self.put(*kv), more.items()))
            self.assertTrue(all(status_of(r) == 201 for r in results))
            bodies.update(more)
            m = self.metrics()
            committed = by_worker(m, "sluice_uploads_committed_total")
            if len([v for v in committed.values() if v > 0]) == 2:
                break
        self.assertEqual(sum(committed.values()), len(bodies), committed)
        self.assertEqual(len([v for v in committed.values() if v > 0]), 2, committed)
        self.assertEqual(sum(by_worker(m, "sluice_committed_bytes_total").values()),
                         sum(len(b) for b in bodies.values()))
        for name, body in bodies.items():
            with open(os.path.join(self.srv.root, name), "rb") as f:
                self.assertEqual(hashlib.sha256(f.read()).digest(), hashlib.sha256(body).digest())
        # the access log: one JSON line per request (the PUTs, a GET per batch), from both
        # workers; a line is written once its request ended, maybe after the client had the answer
        want = len(bodies) + batch + 1
        wait_until(lambda: len(self.log_lines()) >= want, "%d access log lines" % want)
        lines = self.log_lines()
        self.assertEqual(len(lines), want)
        self.assertEqual(sorted({l["worker"] for l in lines if l["method"] == "PUT"}), [0, 1])
        self.assertEqual(sum(1 for l in lines if l["status"] == 201), len(bodies))

    def test_a_killed_worker_is_replaced_and_the_other_is_untouched(self):
        pids = by_worker(self.metrics(), "sluice_worker_pid")
        victim = int(pids["0"])
        # slow uploads in flight on both workers: 8, and more until each worker holds some (the
        # kernel spreads connections over the workers; each worker's gauge is its last tick's)
        socks, bodies = [], []

        def in_flight():
            return by_worker(self.metrics(), "sluice_uploads_in_flight")
        while len(socks) < 8 or min(in_flight().values()) == 0:
            i = len(socks)
            self.assertLess(i, 64, "the uploads never reached both workers: %s" % in_flight())
            s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=LIMIT)
            body = os.urandom(200000)
            s.sendall(b"PUT /files/k/%d.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                      % (i, len(body)) + body[:1000])
            socks.append(s)
            bodies.append(body)
            if len(socks) >= 8:
                wait_until(lambda: sum(in_flight().values()) == len(socks),
                           lambda: "%d uploads in flight: %s" % (len(socks), in_flight()))
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: "killed by signal 9" in self.srv.output(),
                   "the supervisor to see the worker die")
        ok = 0
        for i, s in enumerate(socks):
            try:
                s.sendall(bodies[i][1000:])
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if status_of(data) == 201:
                    ok += 1
                    with open(os.path.join(self.srv.root, "k", "%d.bin" % i), "rb") as f:
                        self.assertEqual(f.read(), bodies[i])
            except OSError:
                pass  # this one was on the killed worker
            finally:
                s.close()
        self.assertGreater(ok, 0, "the other worker's uploads failed too")
        # replaced within the backoff, and the new one serves
        m = wait_until(lambda: (lambda m: int(by_worker(m, "sluice_worker_pid")["0"]) not in
                                (0, victim) and m)(self.metrics()), "worker 0 to be replaced")
        self.assertNotIn(int(by_worker(m, "sluice_worker_pid")["0"]), (0, victim))
        self.assertEqual(by_worker(m, "sluice_worker_restarts_total")["0"], 1)
        self.assertIn("killed by signal 9", self.srv.output())
        # nothing partial under a final name: every k/ file present is whole
        for name in os.listdir(os.path.join(self.srv.root, "k")):
            i = int(name.split(".")[0])
            with open(os.path.join(self.srv.root, "k", name), "rb") as f:
                self.assertEqual(f.read(), bodies[i])
        self.assertEqual(status_of(self.put("after.bin", b"still serving")), 201)

    def test_sighup_replaces_workers_and_refuses_nothing(self):
        before = set(by_worker(self.metrics(), "sluice_worker_pid").values())
        results, stop = [], threading.Event()

        def stream():
            i = 0
            while not stop.is_set():
                try:
                    results.append(status_of(self.put("h/%d.bin" % i, b"x" * 2048)))
                except OSError as e:
                    results.append(repr(e))
                i += 1
        t = threading.Thread(target=stream)
        t.start()
        try:  # uploads before, during and after the replacement
            wait_until(lambda: len(results) >= 10, "uploads before SIGHUP")
            self.srv.send(signal.SIGHUP)
            wait_until(lambda: "SIGHUP: 2 workers replaced" in self.srv.output(),
                       "the workers to be replaced")
            n = len(results)
            wait_until(lambda: len(results) >= n + 10, "uploads after the replacement")
        finally:
            stop.set()
            t.join(LIMIT)
        self.assertGreater(len(results), 20)
        self.assertEqual([r for r in results if r != 201], [], "refused during SIGHUP")
        after = wait_until(lambda: (lambda a: len(a - before) >= 2 and a)(
            {v for v in by_worker(self.metrics(), "sluice_worker_pid").values() if v}),
            "two new worker pids")
        self.assertGreaterEqual(len(after - before), 2, (before, after))
        self.assertIn("SIGHUP: 2 workers replaced", self.srv.output())


class TrustProxy(unittest.TestCase):
    """X-Forwarded-For and Forwarded name the client only with --trust-proxy."""

    def remotes(self, *flags):
        log = tempfile.NamedTemporaryFile(prefix="sluice-access-", delete=False).name
        srv = Server("--access-log", log, *flags).start()
        try:
            for h in (b"X-Forwarded-For: 203.0.113.7, 10.0.0.1\r\n",
                      b'Forwarded: for="[2001:db8::1]:4711";proto=https\r\n'):
                exchange(srv.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + h + b"\r\n")

            def lines():
                with open(log) as f:
                    return [json.loads(line) for line in f]
            wait_until(lambda: len(lines()) >= 2, "two access log lines")
            return [l["remote"] for l in lines()]
        finally:
            srv.stop()
            os.unlink(log)

    def test_only_with_the_flag(self):
        self.assertEqual(self.remotes("--trust-proxy"), ["203.0.113.7", "2001:db8::1"])
        self.assertEqual(self.remotes(), ["127.0.0.1", "127.0.0.1"])


class AccessLogRotation(unittest.TestCase):
    """logrotate moves the file, SIGUSR1 makes sluice (every worker) write a new one."""

    def test_sigusr1_reopens(self):
        d = tempfile.mkdtemp(prefix="sluice-log-")
        log = os.path.join(d, "access.log")
        srv = Server("--access-log", log, "--workers", "2").start()

        def count(path):
            with open(path) as f:
                return len([json.loads(line) for line in f])

        def reopened():  # every worker holds the new file, none the old one
            workers = srv.children()
            links = []
            for pid in workers:
                d = "/proc/%d/fd" % pid
                for fd in os.listdir(d):
                    try:
                        links.append(os.readlink(os.path.join(d, fd)))
                    except OSError:
                        pass
            return (len(workers) == 2 and links.count(log) == 2 and
                    not any(x.startswith(log + ".1") for x in links))
        try:
            exchange(srv.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            wait_until(lambda: count(log) == 1, "the first request's log line")
            os.rename(log, log + ".1")
            srv.send(signal.SIGUSR1)
            wait_until(reopened, "both workers to reopen the log")
            for _ in range(4):  # whichever worker answers writes to the new file
                exchange(srv.port,
                         b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            wait_until(lambda: count(log + ".1") + count(log) >= 5, "five log lines in all")
            self.assertEqual(count(log + ".1"), 1)
            self.assertEqual(count(log), 4)
        finally:
            self.assertEqual(srv.stop(), 0)
            shutil.rmtree(d, ignore_errors=True)


class WorkerFlags(unittest.TestCase):
    def test_bad_worker_counts_exit_2(self):
        import subprocess
        from harness import BIN
        for v in ("0", "-1", "abc", "999"):
            p = subprocess.run([BIN, "--workers", v, "--check-config"], capture_output=True,
                               text=True, timeout=10)
            self.assertEqual(p.returncode, 2, (v, p.stderr))
            self.assertIn("--workers", p.stderr)
        p = subprocess.run([BIN, "--workers", "auto", "--check-config"], capture_output=True,
                           text=True, timeout=10)
        self.assertEqual(p.returncode, 0)
        self.assertIn("workers = auto", p.stdout)


if __name__ == "__main__":
    unittest.main()
