"""sluice-up (tools/up/, tools/README.md) against the real sluice.

a. 300 MiB through a proxy that holds the stream at 150 MiB: the server is killed (-9) once a
   checkpoint recorded what arrived, a new server starts on the same root, and sluice-up (retrying
   with backoff) resumes from the offset the new server reports: the file is byte-identical and
   the new server received exactly the bytes past that offset (sluice_received_bytes_total): no
   acknowledged byte is sent again.
b. sluice-up itself killed (-9) mid-way, then interrupted (SIGINT: exit 6), and run again with
   the same arguments: it finds its state under $XDG_STATE_HOME/sluice-up (no new upload),
   resumes from the server's offset each time, and the last run sends exactly the bytes past
   that offset (counted at the server once the cut connections are gone); the same for a file
   in 4 parts (tus concatenation), each part resumed.
c. a directory of 1,000 small files in 10 folders with --parallel 8: names kept, every file
   byte-identical and verified.
d. a proxy that flips one byte of the body: the server's SHA-256 differs from sluice-up's, which
   reports the mismatch and exits 4; the IETF draft (--protocol ietf) through a cutting proxy and
   split parts (--parts 3) end byte-identical.
e. errors: a refused connection (exit 3), a file too large for the server (exit 1, the server's
   message), bad usage (exit 2), a missing file (exit 5); --help lists the exit statuses;
   --header and --bearer on every request; the display on a terminal, silence on a pipe; IPv6
   with a mount prefix.
"""
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LIMIT, Server, popen_logged, sha256_file, tus_record,  # noqa: E402
                     wait_until)
from test_tus_client import Proxy  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UP = os.environ.get("SLUICE_UP_BIN", os.path.join(TOP, "build", "sluice-up"))
MiB = 1 << 20


class CorruptingProxy(Proxy):
    """A Proxy that flips the byte at client->server position `at` (once)."""

    def __init__(self, target, at, **kw):
        self.corrupt_at = at
        self.corrupted = False
        super().__init__(target, **kw)

    def _step(self, c, sock, ev, now):
        import selectors
        if (not self.corrupted and sock is c.get("srv") and ev & selectors.EVENT_WRITE and
                c.get("up") and self.forwarded <= self.corrupt_at < self.forwarded + len(c["up"])):
            b = bytearray(c["up"])
            b[self.corrupt_at - self.forwarded] ^= 0x55
            c["up"] = bytes(b)
            self.corrupted = True
        super()._step(c, sock, ev, now)


class RecordingProxy(Proxy):
    """A Proxy that keeps the first 64 KiB of each client->server write, to read request heads."""

    def __init__(self, target, **kw):
        self.seen = b""
        super().__init__(target, **kw)

    def _step(self, c, sock, ev, now):
        import selectors
        if sock is c.get("srv") and ev & selectors.EVENT_WRITE and c.get("up"):
            self.seen += c["up"][:65536]
        super()._step(c, sock, ev, now)


def make_file(path, size, seed):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    h = hashlib.sha256()
    block = hashlib.sha256(seed.encode()).digest() * 2048  # 64 KiB
    with open(path, "wb") as f:
        left, i = size, 0
        while left > 0:
            chunk = (block[i % 251:] + block[:i % 251])[:min(left, len(block))]
            f.write(chunk)
            h.update(chunk)
            left -= len(chunk)
            i += 1
    return h.hexdigest()


class UpToolTest(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="sluice-up-src-")
        self.root = tempfile.mkdtemp(prefix="sluice-up-root-")
        self.state = tempfile.mkdtemp(prefix="sluice-up-state-")
        self.servers, self.proxies = [], []

    def tearDown(self):
        problems = []
        for p in self.proxies:
            p.stop()
        for s in self.servers:
            if s.proc is None:
                continue
            out = s.output()
            if s.proc.poll() is None:
                s.stop()
            for bad in ("AddressSanitizer", "runtime error", "LeakSanitizer"):
                if bad in out:
                    problems.append("%s in the server log: %s" % (bad, out[-3000:]))
        for d in (self.work, self.root, self.state):
            shutil.rmtree(d, ignore_errors=True)
        if problems:
            self.fail("\n".join(problems))

    def server(self, *args, port=0):
        s = Server("--durability", "none", *args, root=self.root, port=port)
        self.servers.append(s)
        return s.start()

    def proxy(self, target, cls=Proxy, **kw):
        p = cls(target, **kw)
        self.proxies.append(p)
        return p

    def cmd(self, *args):
        return [UP, "--json", "--state-dir", self.state, "--retry-delay", "0.1"] + list(args)

    def run_up(self, *args, timeout=4 * LIMIT):
        p = subprocess.run(self.cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
        err = p.stderr.decode(errors="replace")
        for bad in ("AddressSanitizer", "runtime error", "LeakSanitizer"):
            self.assertNotIn(bad, err)
        return p.returncode, self.events(p.stdout), err

    def events(self, out):
        evs = []
        for line in out.decode(errors="replace").splitlines():
            try:
                evs.append(json.loads(line))
            except ValueError:
                self.fail("not a JSON event: %r" % line)
        return evs

    def of(self, evs, kind):
        return [e for e in evs if e["event"] == kind]

    def stored(self, name):
        return os.path.join(self.root, name)

    def settled(self, srv, px):
        """Bytes the server has received once the cut connections are gone: a killed client's
        last bytes may still reach it, and be dropped, after the upload's offset was taken."""
        wait_until(lambda: px.live() == 0, "the proxy's connections to close")
        return srv.metric("sluice_received_bytes_total")

    # --- a ------------------------------------------------------------------------------------

    def test_a_server_kill9_resume(self):
        size = 300 * MiB
        src = os.path.join(self.work, "big.bin")
        sha = make_file(src, size, "a")
        s1 = self.server()
        px = self.proxy(s1.port, rate=200 * MiB, mark=150 * MiB, hold=True)
        p = subprocess.Popen(self.cmd("--retries", "50", src, px.url), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            self.assertTrue(px.mark_event.wait(2 * LIMIT), "forwarded %d" % px.forwarded)
            infos = lambda: [f for f in os.listdir(os.path.join(self.root, ".sluice", "tus"))  # noqa
                             if f.endswith(".info")]
            recorded = wait_until(
                lambda: len(infos()) == 1 and (tus_record(self.root, infos()[0][:-5]) or {}).get(
                    "offset", 0) >= px.forwarded - 4096 and
                tus_record(self.root, infos()[0][:-5])["offset"],
                lambda: "a checkpoint of the %d bytes forwarded" % px.forwarded)
            at_kill = px.forwarded  # held: no more reaches the server until release()
            s1.proc.kill()
            s1.proc.wait(LIMIT)
            s2 = self.server()
            px.target = s2.port
            px.release()
            out, err = p.communicate(timeout=4 * LIMIT)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        evs = self.events(out)
        self.assertEqual(p.returncode, 0, "%s\n%s" % (err.decode(errors="replace"), evs[-5:]))
        resumes = self.of(evs, "resume")
        self.assertEqual(len(resumes), 1, evs)
        off = resumes[0]["offset"]
        self.assertGreaterEqual(off, recorded)
        self.assertLessEqual(off, at_kill)
        patches = self.of(evs, "patch")
        self.assertEqual([q["offset"] for q in patches], [0, off], patches)
        self.assertTrue(self.of(evs, "retry"), "no retry after the kill")
        received = s2.metric("sluice_received_bytes_total")
        print("\n  a: killed at %.1f MiB, resumed at %.1f MiB; the new server received %.1f MiB"
              % (at_kill / MiB, off / MiB, received / MiB), file=sys.stderr)
        self.assertEqual(received, size - off, "the new server got acknowledged bytes again")
        done = self.of(evs, "done")[0]
        self.assertTrue(done["verified"], done)
        self.assertEqual(done["sha256"], sha)
        self.assertEqual(sha256_file(self.stored("big.bin")), sha)

    # --- b ------------------------------------------------------------------------------------

    def test_b_client_kill9_rerun(self):
        size = 96 * MiB
        src = os.path.join(self.work, "data", "mid.bin")
        sha = make_file(src, size, "b")
        srv = self.server()
        px = self.proxy(srv.port, rate=40 * MiB, mark=30 * MiB)
        # the default state directory: $XDG_STATE_HOME/sluice-up
        env = dict(os.environ, XDG_STATE_HOME=self.state)
        cmd = [c for c in self.cmd(src, px.url) if c not in ("--state-dir", self.state)]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            self.assertTrue(px.mark_event.wait(2 * LIMIT), "forwarded %d" % px.forwarded)
        finally:
            p.kill()
            out, _ = p.communicate()
        first = self.events(out)
        self.assertEqual(len(self.of(first, "created")), 1, first)
        kept = os.path.join(self.state, "sluice-up")
        self.assertEqual(len(os.listdir(kept)), 1, "no state kept for the upload")
        # interrupted (SIGINT) in the middle of the second run: exit 6, the state kept
        px.mark, px.rate, px.hold = px.forwarded + 8 * MiB, None, True  # held there: no race
        px.mark_event.clear()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            self.assertTrue(px.mark_event.wait(2 * LIMIT), "forwarded %d" % px.forwarded)
            p.send_signal(signal.SIGINT)
            out, _ = p.communicate(timeout=LIMIT)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        self.assertEqual(p.returncode, 6)
        second = self.events(out)
        self.assertEqual(self.of(second, "created"), [], second)
        self.assertEqual(self.of(second, "summary")[0]["status"], 6)
        self.assertEqual(len(os.listdir(kept)), 1, "the state went with the interruption")
        px.release()  # what it held goes on to the server, then the closes
        before = self.settled(srv, px)
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                           timeout=4 * LIMIT)
        rc, evs, err = p.returncode, self.events(p.stdout), p.stderr.decode(errors="replace")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.of(evs, "created"), [], "a new upload instead of resuming")
        resumes = self.of(evs, "resume")
        self.assertEqual(len(resumes), 1, evs)
        self.assertEqual(resumes[0]["url"], self.of(first, "created")[0]["url"])
        self.assertGreater(resumes[0]["offset"], self.of(second, "resume")[0]["offset"])
        self.assertEqual(self.of(evs, "patch")[0]["offset"], resumes[0]["offset"])
        # the last run sent the bytes past the server's offset, once, and nothing else
        self.assertEqual(srv.metric("sluice_received_bytes_total") - before,
                         size - resumes[0]["offset"], "bytes the server had were sent again")
        self.assertGreaterEqual(before, resumes[0]["offset"])
        self.assertEqual(sha256_file(self.stored("mid.bin")), sha)
        self.assertEqual(os.listdir(kept), [], "the state outlived the upload")

    def test_b_parts_kill9_rerun(self):
        size = 64 * MiB
        src = os.path.join(self.work, "parts.bin")
        sha = make_file(src, size, "b2")
        srv = self.server()
        px = self.proxy(srv.port, rate=20 * MiB, mark=30 * MiB)
        args = ("--parts", "4", "--part-min", "1M", src, px.url)
        p = subprocess.Popen(self.cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            self.assertTrue(px.mark_event.wait(2 * LIMIT), "forwarded %d" % px.forwarded)
        finally:
            p.kill()
            out, _ = p.communicate()
        created = [e["url"] for e in self.of(self.events(out), "created")]
        self.assertEqual(len(created), 4)
        before = self.settled(srv, px)
        px.rate = None
        rc, evs, err = self.run_up(*args)
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.of(evs, "created"), [], "new parts instead of resuming")
        resumes = self.of(evs, "resume")
        self.assertEqual(sorted(e["url"] for e in resumes), sorted(created))
        self.assertEqual(sorted(e["part"] for e in self.of(evs, "patch")),
                         sorted(e["part"] for e in resumes if e["offset"] < size // 4))
        acked = sum(e["offset"] for e in resumes)
        self.assertEqual(srv.metric("sluice_received_bytes_total") - before, size - acked,
                         "bytes the server had were sent again")
        self.assertGreaterEqual(before, acked)
        self.assertTrue(self.of(evs, "done")[0]["verified"])
        self.assertEqual(sha256_file(self.stored("parts.bin")), sha)

    # --- c ------------------------------------------------------------------------------------

    def test_c_directory_parallel(self):
        tree = os.path.join(self.work, "tree")
        shas = {}
        for i in range(1000):
            rel = "d%d/f%04d.txt" % (i % 10, i)
            shas[rel] = make_file(os.path.join(tree, rel), 1 + (i * 37) % 5000, rel)
        srv = self.server()
        rc, evs, err = self.run_up("--parallel", "8", tree, srv.url)
        self.assertEqual(rc, 0, err)
        done = self.of(evs, "done")
        self.assertEqual(len(done), 1000)
        self.assertTrue(all(d["verified"] for d in done))
        for rel, sha in shas.items():
            self.assertEqual(sha256_file(self.stored("tree/" + rel)), sha, rel)
        self.assertEqual(self.of(evs, "summary")[0]["files"], 1000)

    # --- d ------------------------------------------------------------------------------------

    def test_d_digest_mismatch_ietf_parts(self):
        src = os.path.join(self.work, "x.bin")
        sha = make_file(src, 8 * MiB, "d")
        srv = self.server()
        bad = self.proxy(srv.port, cls=CorruptingProxy, at=3 * MiB)
        rc, evs, err = self.run_up(src, bad.url)
        self.assertTrue(bad.corrupted)
        self.assertEqual(rc, 4, err)
        self.assertIn("SHA-256 mismatch", err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertEqual(self.of(evs, "error")[0]["status"], 4)
        self.assertEqual(os.listdir(self.state), [], "a mismatched upload is not resumed")
        # the IETF draft through a proxy cutting twice
        cut = self.proxy(srv.port, cut_every=3 * MiB, max_cuts=2, cut_kinds=("fin", "rst"))
        rc, evs, err = self.run_up("--protocol", "ietf", "--dest", "ietf", src, cut.url)
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(cut.cuts), 2)
        self.assertGreaterEqual(len(self.of(evs, "resume")), 1, evs)
        self.assertEqual(sha256_file(self.stored("ietf/x.bin")), sha)
        # split into parts, joined by the server
        rc, evs, err = self.run_up("--parts", "3", "--part-min", "1M", "--dest", "parts", src,
                                   srv.url)
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(self.of(evs, "created")), 3, evs)
        self.assertTrue(self.of(evs, "done")[0]["verified"])
        self.assertEqual(sha256_file(self.stored("parts/x.bin")), sha)

    # --- e ------------------------------------------------------------------------------------

    def test_e_errors_and_exit_statuses(self):
        src = os.path.join(self.work, "e.bin")
        make_file(src, 2 * MiB, "e")
        srv = self.server("--max-size", "1M")
        rc, evs, err = self.run_up(src, srv.url)
        self.assertEqual(rc, 1, err)
        self.assertRegex(err, r"^sluice-up: .*e\.bin: HTTP 413: .+\n$")
        free = Server()  # a port nobody listens on: start and stop a server
        free.start()
        port = free.port
        free.stop()
        rc, evs, err = self.run_up("--retries", "1", src, "http://127.0.0.1:%d" % port)
        self.assertEqual(rc, 3, err)
        self.assertIn("gave up after 2 attempts", err)
        rc, evs, err = self.run_up(src)
        self.assertEqual(rc, 2, err)
        rc, evs, err = self.run_up(src, "ftp://x")
        self.assertEqual(rc, 2, err)
        rc, evs, err = self.run_up(os.path.join(self.work, "missing"), srv.url)
        self.assertEqual(rc, 5, err)
        h = subprocess.run([UP, "--help"], stdout=subprocess.PIPE, timeout=LIMIT)
        self.assertEqual(h.returncode, 0)
        for code in range(7):
            self.assertIn(b"%d " % code, h.stdout)
        # a server that keeps no digest: the file's HEAD is asked, then "not verified", exit 0
        nod = self.server("--digest", "none")
        rc, evs, err = self.run_up("--dest", "nodigest", src, nod.url)
        self.assertEqual(rc, 0, err)
        self.assertIn("the server reported no SHA-256: not verified", err)
        self.assertFalse(self.of(evs, "done")[0]["verified"])
        # --header and --bearer go on every request
        small = os.path.join(self.work, "h.bin")
        make_file(small, 2000, "h")
        ok = self.server()
        rec = self.proxy(ok.port, cls=RecordingProxy)
        rc, evs, err = self.run_up("--bearer", "tok3n", "-H", "X-Trace: 42", "--small", "1K",
                                   small, rec.url)
        self.assertEqual(rc, 0, err)
        heads = re.findall(rb"(POST|PATCH|HEAD) /uploads/\S* HTTP/1\.1\r\n(.*?\r\n)\r\n",
                           rec.seen, re.S)
        self.assertEqual([m for m, _ in heads], [b"POST", b"PATCH"], rec.seen[:2000])
        for _, h in heads:
            self.assertIn(b"Authorization: Bearer tok3n\r\n", h)
            self.assertIn(b"X-Trace: 42\r\n", h)
        # a terminal gets the progress display (per file and total); a pipe gets nothing
        import pty
        big = os.path.join(self.work, "p.bin")
        make_file(big, 48 * MiB, "p")
        plain = self.server()
        slow = self.proxy(plain.port, rate=32 * MiB)
        master, slave = pty.openpty()
        p = subprocess.Popen([UP, "--state-dir", self.state, big, slow.url],
                             stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        shown = b""
        while True:
            try:
                d = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side closed
                break
            if not d:
                break
            shown += d
        os.close(master)
        self.assertEqual(p.wait(LIMIT), 0, shown[-500:])
        self.assertEqual(p.stdout.read(), b"")
        p.stdout.close()
        self.assertIn(b"p.bin", shown)
        self.assertRegex(shown, rb"total +[0-9.]+ [KMG]?i?B / 48.0 MiB +\d+%.*ETA")
        self.assertIn(b"\x1b[1A\x1b[2K", shown)  # redrawn in place
        self.assertIn(b"1 of 1 files uploaded", shown)
        q = subprocess.run([UP, "--state-dir", self.state, "--dest", "again", big, plain.url],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=LIMIT)
        self.assertEqual((q.returncode, q.stdout, q.stderr), (0, b"", b""))
        # IPv6 and a mount prefix
        v6root = os.path.join(self.work, "v6root")
        log = open(os.path.join(self.work, "v6.log"), "w+b")
        v6 = popen_logged([os.environ.get("SLUICE_BIN", os.path.join(TOP, "build", "sluice")),
                           "--listen", "[::1]:0", "--root", v6root, "--mount", "/m"], log)
        try:
            def port():
                log.seek(0)
                m = re.search(rb"listening on http://\[?::1\]?:(\d+)", log.read())
                if v6.poll() is not None:
                    log.seek(0)
                    self.skipTest("no IPv6 loopback here: %s" % log.read()[-300:])
                return m and int(m.group(1))
            p6 = wait_until(port, "sluice on [::1]")
            rc, evs, err = self.run_up("--mount", "/m", src, "http://[::1]:%d" % p6)
            self.assertEqual(rc, 0, err)
            self.assertTrue(self.of(evs, "done")[0]["location"].startswith(
                "http://[::1]:%d/m/files/" % p6), evs)
            self.assertEqual(os.path.getsize(os.path.join(v6root, "e.bin")), 2 * MiB)
        finally:
            v6.kill()
            v6.wait()
            log.close()

if __name__ == "__main__":
    unittest.main(verbosity=2)
