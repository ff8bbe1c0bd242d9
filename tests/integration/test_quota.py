#!/usr/bin/env python3
"""Token quotas (quota=N in --token-file; server/http/quota.c, docs/security.md): one count per
token, of the body bytes its uploads sent, that survives a restart, a SIGHUP and a kill -9 (up to
the last write of the ledger), and that every worker of --workers charges alike. The ledger,
<root>/.sluice/quota, is read here as the documented text; a corrupt one stops the start.

Run: SLUICE_BIN=build/sluice python3 tests/integration/test_quota.py -v
"""
import concurrent.futures
import hashlib
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LIMIT, Server, curl, wait_until  # noqa: E402

TOKEN = "quota-token-0123456789abc"
OTHER = "other-token-0123456789abc"
QUOTA = 1000


def key_of(token):
    """The token's key in the ledger, from the documented derivation."""
    h = hashlib.sha256(token.encode()).digest()
    return hashlib.sha256(b"sluice-quota-v1\n" + h).hexdigest()[:32]


class QuotaTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sluice-quota-")
        self.root = os.path.join(self.dir, "root")
        os.makedirs(self.root)
        self.tokens = os.path.join(self.dir, "tokens")
        self.access_log = os.path.join(self.dir, "access.log")
        self.write_tokens(["%s read,write quota=%d" % (TOKEN, QUOTA), "%s all" % OTHER])
        self.srv = None

    def tearDown(self):
        if self.srv is not None:
            out = self.srv.output()
            rc = self.srv.stop()
            self.assertEqual(rc, 0, "sluice exited %s: %s" % (rc, out))
            self.assertNotIn("AddressSanitizer", out)
            self.assertNotIn("runtime error", out)
        shutil.rmtree(self.dir, ignore_errors=True)

    def write_tokens(self, lines):
        with open(self.tokens + ".new", "w") as f:
            f.write("\n".join(lines) + "\n")
        os.rename(self.tokens + ".new", self.tokens)

    def start(self, *extra):
        self.srv = Server("--token-file", self.tokens, "--access-log", self.access_log, *extra,
                          root=self.root).start()
        return self.srv

    def stop(self, sig=signal.SIGTERM):
        rc = self.srv.stop(sig)
        self.srv = None
        return rc

    @property
    def ledger_path(self):
        return os.path.join(self.root, ".sluice", "quota")

    def ledger(self):
        """The ledger as {key: used}, or None when absent; asserts its documented shape."""
        try:
            with open(self.ledger_path) as f:
                lines = f.read().split("\n")
        except FileNotFoundError:
            return None
        self.assertEqual(lines[0], "sluice-quota-v1")
        self.assertEqual(lines[-1], "")
        entries = dict(l.split(" ") for l in lines[1:-2])
        self.assertEqual(lines[-2], "end %d" % len(entries))
        return {k: int(v) for k, v in entries.items()}

    def used(self):
        return (self.ledger() or {}).get(key_of(TOKEN), 0)

    def put(self, name, size, token=TOKEN):
        body = os.path.join(self.dir, "body-%d" % size)  # one file per size: threads share it
        if not os.path.exists(body):
            with open(body + ".%d" % threading.get_ident(), "wb") as f:
                f.write(b"q" * size)
            os.rename(body + ".%d" % threading.get_ident(), body)
        status, _, _ = curl("-X", "PUT", "--data-binary", "@" + body,
                            "-H", "Authorization: Bearer " + token,
                            "%s/files/%s" % (self.srv.url, name))
        return status

    def put_partial(self, name, declared, sent):
        """An upload that declares `declared` bytes, sends `sent` and hangs up."""
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=LIMIT)
        s.sendall(b"PUT /files/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                  b"Content-Length: %d\r\n\r\n" % (name.encode(), TOKEN.encode(), declared)
                  + b"p" * sent)
        wait_until(lambda: self.srv.metric("sluice_uploads_in_flight") >= 1, "the upload")
        s.close()

    # -- restart, crash, SIGHUP -------------------------------------------------------------

    def test_the_count_survives_a_restart(self):
        self.start()
        self.assertEqual(self.put("a", 600), 201)
        self.put_partial("b", 300, 100)  # charged 300, 200 never arrived: given back
        wait_until(lambda: self.used() == 700, "the ledger to count 600 + 100")
        self.assertEqual(self.stop(), 0)
        self.assertEqual(self.ledger(), {key_of(TOKEN): 700})  # OTHER has no quota: no entry
        self.start()
        self.assertEqual(self.put("c", 301), 507)  # 300 left, not 1000
        self.assertEqual(self.put("c", 300), 201)
        self.assertEqual(self.put("d", 1), 507)
        self.assertEqual(self.put("e", 5000, OTHER), 201)  # a token without quota is not held
        self.assertEqual(self.srv.metric("sluice_refused_total", reason="quota"), 2)
        self.assertEqual(self.stop(), 0)
        self.assertEqual(self.ledger(), {key_of(TOKEN): 1000})

    def test_a_kill_9_keeps_what_the_ledger_had_written(self):
        # The documented bound: the ledger is written within about a second of a change, so a
        # kill -9 loses only charges that close to it. Once the ledger shows a charge (waited
        # for, not timed), a crash keeps it.
        self.start()
        self.assertEqual(self.put("a", 600), 201)
        wait_until(lambda: self.used() == 600, "the ledger to count 600")
        self.stop(signal.SIGKILL)
        self.assertFalse(os.path.exists(self.ledger_path + ".tmp"))
        self.start()
        self.assertEqual(self.put("b", 401), 507)
        self.assertEqual(self.put("b", 300), 201)
        self.assertEqual(self.stop(), 0)
        # --workers: the supervisor writes it; a kill -9 of the whole group keeps what it wrote
        self.start("--workers", "2")
        self.assertEqual(self.put("c", 100), 201)
        wait_until(lambda: self.used() == QUOTA, "the supervisor's ledger to count the quota")
        workers = self.srv.children()
        self.stop(signal.SIGKILL)
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        self.start()
        self.assertEqual(self.put("d", 1), 507)

    def test_a_stop_writes_the_last_count(self):
        # SIGTERM loses nothing: the end writes what the last tick may not have (the stop
        # follows the answer at once, well within the once-a-second write)
        self.start()
        self.assertEqual(self.put("a", 100), 201)
        self.assertEqual(self.stop(), 0)
        self.assertEqual(self.ledger(), {key_of(TOKEN): 100})
        self.start("--workers", "2")
        self.assertEqual(self.put("b", 200), 201)
        self.assertEqual(self.stop(), 0)
        self.assertEqual(self.ledger(), {key_of(TOKEN): 300})

    def test_sighup_keeps_the_count_and_applies_the_new_quota(self):
        self.start()
        self.assertEqual(self.put("a", 600), 201)
        # the token moves down the file (another line before it) and gets a larger quota
        new = "added-token-0123456789abcd"
        self.write_tokens(["%s all" % new, "%s all" % OTHER,
                           "%s read,write quota=%d" % (TOKEN, QUOTA + 500)])
        self.srv.send(signal.SIGHUP)
        wait_until(lambda: self.put("n", 1, new) == 201, "the reloaded tokens")
        self.assertEqual(self.put("b", 901), 507)  # 600 used of 1500
        self.assertEqual(self.put("b", 900), 201)
        self.assertEqual(self.put("c", 1), 507)

    # -- a corrupt ledger --------------------------------------------------------------------

    def assert_refused_start(self, *extra, why):
        srv = Server("--token-file", self.tokens, *extra, root=self.root)
        with self.assertRaises(AssertionError) as cm:
            srv.start()
        srv.stop()
        msg = str(cm.exception)
        self.assertIn("quota ledger %s: %s" % (self.ledger_path, why), msg)
        self.assertIn("remove it to give every token its whole quota back", msg)

    def test_a_corrupt_ledger_stops_the_start(self):
        os.makedirs(os.path.dirname(self.ledger_path))
        with open(self.ledger_path, "w") as f:
            f.write("not a ledger\n")
        self.assert_refused_start(why="line 1: not a sluice quota ledger")
        self.assert_refused_start("--workers", "2", why="line 1: not a sluice quota ledger")
        with open(self.ledger_path, "w") as f:  # torn: its end line lost
            f.write("sluice-quota-v1\n%s 600\n" % key_of(TOKEN))
        self.assert_refused_start(why="line 3: the end line is missing")
        open(self.ledger_path, "w").close()  # empty: a write a crash cut short
        self.assert_refused_start(why="line 1: the file is empty")
        with open(self.ledger_path, "w") as f:
            f.write("sluice-quota-v1\n%s 6x0\nend 1\n" % key_of(TOKEN))
        self.assert_refused_start(why="line 2: \"KEY USED\" expected")
        with open(self.ledger_path) as f:
            self.assertIn("6x0", f.read())  # left as it was for the operator
        os.unlink(self.ledger_path)  # the documented way out: every token starts again at 0
        self.start()
        self.assertEqual(self.put("a", QUOTA), 201)

    # -- workers ------------------------------------------------------------------------------

    def workers_of_puts(self):
        with open(self.access_log) as f:
            return {json.loads(l)["worker"] for l in f if '"PUT"' in l}

    def test_workers_share_one_count(self):
        self.start("--workers", "2")
        # 40 uploads of 100 bytes on 40 connections, 8 at a time, until both workers served
        # some: counted per worker, 20 would get in
        statuses = []
        for _ in range(8):
            with concurrent.futures.ThreadPoolExecutor(8) as ex:
                statuses += list(ex.map(lambda i: self.put("w%d" % i, 100), range(40)))
            if len(wait_until(lambda: self.workers_of_puts(), "access log lines")) == 2:
                break
        self.assertEqual(self.workers_of_puts(), {0, 1})
        self.assertEqual(statuses.count(201), QUOTA // 100, statuses)
        self.assertEqual(statuses.count(201) + statuses.count(507), len(statuses), statuses)
        self.assertEqual(self.srv.metric("sluice_refused_total", reason="quota"),
                         len(statuses) - QUOTA // 100)
        wait_until(lambda: self.used() == QUOTA, "the supervisor's ledger to count the quota")
        # SIGHUP replaces both workers: the count is the supervisor's, it stays
        pids = set(self.srv.children())
        self.srv.send(signal.SIGHUP)
        wait_until(lambda: not pids & set(self.srv.children()), "both workers replaced")
        self.assertEqual(self.put("after-hup", 1), 507)
        self.assertEqual(self.stop(), 0)
        self.assertEqual(self.ledger(), {key_of(TOKEN): QUOTA})
        self.start("--workers", "2")  # and a restart reads it back
        self.assertEqual(self.put("after-restart", 1), 507)


if __name__ == "__main__":
    unittest.main()
