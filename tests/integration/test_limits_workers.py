"""--max-conns-per-ip with --workers (server/http/limits.c): the limit is the server's, not each
worker's. The kernel spreads one client's connections over the workers, so counted apart N
workers would let N times the limit in; the workers count in a table they share. A worker that
dies takes its connections with it, and the supervisor gives their counts back.
"""
import os
import re
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LIMIT, Server, metric_sum, parse_metrics, read_until_done,  # noqa: E402
                     status_of, wait_until)
from test_limits import connect, exchange_from  # noqa: E402

MAX = 4


def served(s):
    """Send a keep-alive request on s: True if answered (the connection was let in), False if the
    server closed it at accept."""
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        resp, _ = read_until_done(s, LIMIT)
    except ConnectionError:
        return False
    return status_of(resp) == 200 if resp else False


class ConnsPerIpWorkers(unittest.TestCase):
    def setUp(self):
        # --header-timeout: idle kept connections stay for the whole test
        self.srv = Server("--workers", "2", "--limit-loopback", "--max-conns-per-ip", str(MAX),
                          "--header-timeout", "600").start()
        self.held = []

    def tearDown(self):
        for s in self.held:
            s.close()
        self.srv.stop()

    def open_many(self, n):
        """Open n connections one after another; keep and return those let in."""
        kept = []
        for _ in range(n):
            s = connect(self.srv.port)
            if served(s):
                kept.append(s)
            else:
                s.close()
        self.held += kept
        return kept

    def assert_tops_up_to_max(self, let_in, what):
        """One connection at a time until MAX are let in with those of let_in (counts given back
        come as each worker sees a close), and then no more."""
        wait_until(lambda: len(let_in) == MAX or let_in.extend(self.open_many(1)), what)
        self.assertEqual(self.open_many(MAX), [], "more than MAX let in")

    def test_the_limit_counts_every_worker(self):
        kept = self.open_many(4 * MAX)
        # counted per worker, each of the two would have let MAX in (2 * MAX)
        self.assertEqual(len(kept), MAX)
        resp, _ = exchange_from(self.srv.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n"
                                b"Connection: close\r\n\r\n", "127.0.0.9")  # another client
        samples = parse_metrics(resp.split(b"\r\n\r\n", 1)[1].decode())
        self.assertEqual(metric_sum(samples, "sluice_refused_total", reason="conns_per_ip"), 3 * MAX)
        for s in kept:
            s.close()
        self.held = []
        # closed connections give their counts back, whichever worker had them
        self.assert_tops_up_to_max([], "MAX connections let in again")

    def test_a_killed_workers_connections_are_given_back(self):
        kept = self.open_many(2 * MAX)
        self.assertEqual(len(kept), MAX)
        workers = self.srv.children()
        self.assertEqual(len(workers), 2, workers)
        # the worker that holds most of them (ss names the process of each server socket)
        out = subprocess.run(["ss", "-Htnp", "state", "established", "( sport = :%d )" % self.srv.port],
                             capture_output=True, text=True, timeout=LIMIT).stdout
        held = [int(p) for p in re.findall(r"pid=(\d+)", out)]
        victim = max(workers, key=held.count)
        self.assertGreater(held.count(victim), 0, out)
        workers.remove(victim)
        workers.insert(0, victim)
        os.kill(victim, signal.SIGKILL)
        # the dead worker's connections end; the others are still served
        survivors = [s for s in kept if served(s)]
        self.assertLess(len(survivors), MAX + 1)
        wait_until(lambda: len(self.srv.children()) == 2 and workers[0] not in self.srv.children(),
                   "the worker to be replaced")
        # the dead worker's counts are gone: exactly MAX - survivors more are let in
        want = MAX - len(survivors)
        # the supervisor reaps it within a second or so: not the time for a kept one to end
        wait_until(lambda: len(self.open_many(1)) == 1 or want == 0, "a connection let in",
                   limit=10)
        more = self.open_many(3 * MAX)
        self.assertEqual(len(survivors) + (1 if want else 0) + len(more), MAX,
                         (len(survivors), len(more)))

    def test_replacement_workers_count_the_clients_waiting_at_their_start(self):
        """Both workers killed: the clients that connect meanwhile wait on the listening socket,
        and the replacements find them there at their start. A replacement that accepted before
        it had its shared slot counted a client apart from the other worker: each let MAX in."""
        for pid in self.srv.children():
            os.kill(pid, signal.SIGKILL)
        waiting = [connect(self.srv.port) for _ in range(3 * MAX)]  # in the kernel's queue
        self.held += waiting
        let_in = [s for s in waiting if served(s)]
        self.assertLessEqual(len(let_in), MAX)
        # two workers racing for one client may both refuse (limits.c): then it gets up to MAX
        self.assert_tops_up_to_max(let_in, "MAX connections let in")
        self.assertEqual(len(self.srv.children()), 2)


if __name__ == "__main__":
    unittest.main()
