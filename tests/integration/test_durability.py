"""Durability modes and the atomic commit (DESIGN.md §5, issue 2 item 5).

1. With --durability full and none, uploads of every shape (empty, tiny, odd sizes, 17 MiB;
   Content-Length, chunked, POST ?name=) store exactly the bytes sent, and the 201's size
   and sha256 describe them. Watching the server with strace shows what the mode means: full does
   fdatasync, then rename, then fsync of the directory, all before the 201 reaches the client;
   none does no fsync/fdatasync at all.
2. Rename atomicity: while a 50 MiB PUT creates, then replaces, a name, concurrent GETs of it
   always get 404 / the complete old content / the complete new content, never a mix or a
   truncated file; a GET that opened the old file before the replacement reads it to the end.
   The PUT is paced by the readers (it goes on once GETs have run while it streams), and "after
   the 201" means a GET sent after the client had the 201: orders of events, not time windows.

Run: cd /work/main && SLUICE_BIN=build/sluice python3 tests/integration/test_durability.py -v
"""
import hashlib
import http.client
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LIMIT, ServerTest, curl, sha256_file, wait_until  # noqa: E402

KiB = 1 << 10
MiB = 1 << 20


def payload(seed, n):
    return random.Random(seed).randbytes(n)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def big_content(tag, size):
    """size bytes: one pseudo-random 1 MiB block, each copy stamped with tag and its index."""
    block = random.Random(tag).randbytes(MiB)
    out = bytearray()
    i = 0
    while len(out) < size:
        out += (b"%s:%08d:" % (tag.encode(), i)) + block[16:]
        i += 1
    return bytes(out[:size])


def read_response(s, timeout):
    buf = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        s.settimeout(max(0.1, deadline - time.time()))
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        if not d:
            break
        buf += d
        head, sep, body = buf.partition(b"\r\n\r\n")
        if sep and head.startswith(b"HTTP/1.1 100"):
            buf = body
            continue
        m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        if sep and m and len(body) >= int(m.group(1)):
            return int(head.split()[1]), body
    raise AssertionError("no complete response: %r" % buf[:300])


class Strace:
    """strace attached to every thread of a running process, syscalls with epoch timestamps."""

    CALLS = "fdatasync,fsync,rename,renameat,renameat2,syncfs"

    def __init__(self, pid):
        self.out = tempfile.NamedTemporaryFile(prefix="sluice-strace-", delete=False).name
        self.p = subprocess.Popen(["strace", "-f", "-ttt", "-e", "trace=" + self.CALLS,
                                   "-o", self.out, "-p", str(pid)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # strace says "Process N attached with M threads" once it holds every thread (and -f
        # follows the ones started later): from then on nothing is missed
        line = self.p.stderr.readline()
        if b"attached" not in line:
            raise AssertionError("strace did not attach: %r" % line)
        self.drain = threading.Thread(target=self.p.stderr.read, daemon=True)  # never blocks it
        self.drain.start()

    def stop(self):
        self.p.terminate()
        self.p.wait(LIMIT)
        self.drain.join(LIMIT)
        self.p.stderr.close()
        with open(self.out) as f:
            text = f.read()
        os.unlink(self.out)
        return self.completed(text)

    @staticmethod
    def completed(text):
        """[(time, syscall, line)] for every call that returned 0, in time order."""
        calls = []
        for line in text.splitlines():
            m = re.match(r"\s*\d+\s+(\d+\.\d+)\s+(?:<\.\.\. )?(\w+)(?:\(| resumed>)(.*)", line)
            if m and re.search(r"\)\s+= 0\b", line):
                calls.append((float(m.group(1)), m.group(2), line))
        return sorted(calls)


class DurabilityBase:
    MODE = None

    def check_201(self, status, body, data, name):
        self.assertEqual(status, 201, body)
        j = json.loads(body)
        self.assertEqual(j["name"], name)
        self.assertEqual(j["size"], len(data))
        self.assertEqual(j["sha256"], sha(data))
        self.assertNotIn("crc32", j)  # not in the default --digest set
        path = os.path.join(self.srv.root, name)
        self.assertEqual(os.path.getsize(path), len(data))
        self.assertEqual(sha256_file(path), sha(data))
        st, hdr, got = curl(f"{self.srv.url}/files/{name}")
        self.assertEqual(st, 200)
        self.assertEqual(got, data)

    def test_mode_in_listening_line(self):
        self.assertIn("durability=%s" % self.MODE, self.srv.output())

    def test_uploads_of_every_shape(self):
        srv = self.srv
        sizes = [0, 1, 4095, 4096, 65537, MiB + 1, 17 * MiB + 3]
        for i, n in enumerate(sizes):
            data = payload("%s-%d" % (self.MODE, i), n)
            with tempfile.NamedTemporaryFile() as f:
                f.write(data)
                f.flush()
                # Content-Length (curl -T file)
                st, _, body = curl("-T", f.name, f"{srv.url}/files/cl/{n}.bin")
                self.check_201(st, body, data, f"cl/{n}.bin")
                # chunked (curl -T - reads stdin)
                with open(f.name, "rb") as stdin:
                    p = subprocess.run(["curl", "-s", "-S", "--max-time", "60", "-T", "-",
                                        f"{srv.url}/files/te/{n}.bin"], stdin=stdin,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       timeout=70)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.check_201(201, p.stdout, data, f"te/{n}.bin")
                # POST raw body with ?name=
                st, _, body = curl("--data-binary", "@" + f.name, "-H",
                                   "Content-Type: application/octet-stream",
                                   f"{srv.url}/files/?name=post-{n}.bin")
                self.check_201(st, body, data, f"post-{n}.bin")
        # a raw chunked body with odd framing: 1-byte chunks, extensions, a big chunk
        data = payload("odd", 300 * KiB + 7)
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
        s.sendall(b"PUT /files/odd.bin HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for k in range(10):
            s.sendall(b"1\r\n" + data[k:k + 1] + b"\r\n")
        s.sendall(b"%x;ext=1\r\n" % (100 * KiB) + data[10:10 + 100 * KiB] + b"\r\n")
        rest = data[10 + 100 * KiB:]
        s.sendall(b"%X\r\n" % len(rest) + rest + b"\r\n0\r\n\r\n")
        st, body = read_response(s, 20)
        s.close()
        self.check_201(st, body, data, "odd.bin")
        self.assertEqual(srv.tmp_files(), [])

    def test_sync_calls(self):
        """What the mode does to the disk, seen through strace."""
        srv = self.srv
        # a first upload so the thread pool exists before strace attaches (-f follows new
        # threads too, but then it need not)
        warm = payload("warm", 1000)
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
        s.sendall(b"PUT /files/warm.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                  % len(warm) + warm)
        st, body = read_response(s, 20)
        s.close()
        self.check_201(st, body, warm, "warm.bin")
        data = payload("traced", 3 * MiB)
        tr = Strace(srv.pid())
        try:
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
            s.sendall(b"PUT /files/dir/traced.bin HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(data) + data)
            st, body = read_response(s, 30)
            t_201 = time.time()
            s.close()
        finally:
            calls = tr.stop()
        self.check_201(st, body, data, "dir/traced.bin")
        names = [c[1] for c in calls]
        print("\n  durability=%s: %s" % (self.MODE, " ".join(names) or "(no sync/rename calls)"),
              file=sys.stderr)
        # The data file's rename; the metadata record (.sluice/meta, a cache checked against the
        # file's size and mtime) is renamed into place after it and needs no sync of its own.
        all_renames = [c for c in calls if c[1].startswith("rename")]
        renames = [c for c in all_renames if ".sluice/meta/" not in c[2]]
        self.assertEqual(len(renames), 1, calls)
        self.assertLessEqual(len(all_renames), 2, calls)
        self.assertIn("traced.bin", renames[0][2])
        if self.MODE == "full":
            datasync = [c for c in calls if c[1] == "fdatasync"]
            fsync = [c for c in calls if c[1] == "fsync"]
            self.assertTrue(datasync, "no fdatasync in durability=full: %s" % calls)
            self.assertTrue(fsync, "no directory fsync in durability=full: %s" % calls)
            # fdatasync, rename, fsync(dir) (twice: dir/ is new, so its parent too), then 201
            self.assertLess(datasync[-1][0], renames[0][0])
            self.assertLess(renames[0][0], fsync[0][0])
            self.assertGreaterEqual(len(fsync), 2, "new directory dir/ not made durable")
            self.assertLess(fsync[-1][0], t_201)
        else:
            self.assertEqual([c for c in calls if "sync" in c[1]], [],
                             "durability=none still syncs")


class DurabilityFull(DurabilityBase, ServerTest):
    MODE = "full"
    server_args = ("--durability", "full")

    def test_concurrent_commits_share_their_flushes(self):
        """Group commit: 64 small uploads finishing together need fewer flushes than files; each
        batch is syncfs, the renames, syncfs again, before any of its 201s."""
        srv = self.srv
        n = 64
        bodies = [payload("group-%d" % i, 4096) for i in range(n)]
        socks = [socket.create_connection(("127.0.0.1", srv.port), timeout=30) for _ in range(n)]
        tr = Strace(srv.pid())
        try:
            for i, s in enumerate(socks):  # every request out before any answer is read
                s.sendall(b"PUT /files/g/%d.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                          % (i, len(bodies[i])) + bodies[i])
            answers = [read_response(s, 30) for s in socks]
        finally:
            calls = tr.stop()
            for s in socks:
                s.close()
        for i, (st, body) in enumerate(answers):
            self.check_201(st, body, bodies[i], "g/%d.bin" % i)
        flushes = [c for c in calls if c[1] in ("syncfs", "fdatasync", "fsync")]
        print("\n  %d concurrent commits: %d flushes (%d syncfs)"
              % (n, len(flushes), sum(c[1] == "syncfs" for c in flushes)), file=sys.stderr)
        self.assertLess(len(flushes), n, "no commit shared a flush: %s" % flushes)
        self.assertGreater(sum(c[1] == "syncfs" for c in flushes), 0)


class DurabilityNone(DurabilityBase, ServerTest):
    MODE = "none"
    server_args = ("--durability", "none")


class RenameAtomicity(ServerTest):
    SIZE = 50 * MiB
    READERS = 3

    def paced_put(self, name, data, gate):
        """PUT data a MiB at a time; before each piece, gate(k) (k pieces sent so far) is waited
        for, so the readers run while the body streams. Returns (status, body, time of the
        201), the time taken (monotonic) once the 201 is read."""
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=LIMIT)
        s.sendall(b"PUT /files/%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                  % (name.encode(), len(data)))
        for k, off in enumerate(range(0, len(data), MiB)):
            gate(k)
            s.sendall(data[off:off + MiB])
        st, body = read_response(s, 2 * LIMIT)
        t = time.monotonic()
        s.close()
        return st, body, t

    def get(self, name):
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=LIMIT)
        c.request("GET", "/files/" + name)
        r = c.getresponse()
        h = hashlib.sha256()
        n = 0
        while True:
            b = r.read(MiB)
            if not b:
                break
            h.update(b)
            n += len(b)
        c.close()
        return r.status, n, h.hexdigest()

    def run_readers(self, name, stop):
        """READERS threads GET name in a loop until stop; each result is (time before the
        request, time after the body, status, bytes, sha256), monotonic times."""
        results = []
        lock = threading.Lock()

        def loop():
            while not stop.is_set():
                t0 = time.monotonic()
                st, n, digest = self.get(name)
                with lock:
                    results.append((t0, time.monotonic(), st, n, digest))

        threads = [threading.Thread(target=loop) for _ in range(self.READERS)]
        for t in threads:
            t.start()
        return results, threads

    def gate_on(self, results, pred, what, at_piece):
        """A gate for paced_put: before piece at_piece, wait until some reader result that began
        after the first piece went out satisfies pred."""
        began = []

        def gate(k):
            if k == 1:
                began.append(time.monotonic())
            if k == at_piece:
                wait_until(lambda: any(r[0] > began[0] and pred(r) for r in list(results)), what)
        return gate

    def test_readers_see_old_or_new_never_a_mix(self):
        name = "swap.bin"
        old = big_content("OLD", self.SIZE)
        new = big_content("NEW", self.SIZE)
        sha_old, sha_new = sha(old), sha(new)

        # phase 1: the name is created while readers poll it: 404 or the complete file
        stop = threading.Event()
        results, threads = self.run_readers(name, stop)
        st, body, t_create = self.paced_put(name, old, self.gate_on(
            results, lambda r: r[2] == 404, "a GET during the creation", self.SIZE // MiB // 2))
        self.assertEqual(st, 201, body)
        self.assertEqual(json.loads(body)["sha256"], sha_old)
        wait_until(lambda: any(r[0] > t_create for r in list(results)), "a GET after the 201")
        stop.set()
        for t in threads:
            t.join(LIMIT)
        created = list(results)
        for (t0, t1, st, n, digest) in created:
            if st == 404:
                self.assertLess(t0, t_create, "404 for a GET sent after the 201")
            else:
                self.assertEqual((st, n, digest), (200, self.SIZE, sha_old),
                                 "a reader saw a partial file while it was being created")
        self.assertTrue(any(r[2] == 404 for r in created), "no reader polled during the creation")
        self.assertTrue(any(r[2] == 200 for r in created))

        # phase 2: replaced while readers loop; one slow reader holds the old file open
        slow = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=LIMIT)
        slow.request("GET", "/files/" + name)
        slow_r = slow.getresponse()
        self.assertEqual(slow_r.status, 200)
        slow_h = hashlib.sha256(slow_r.read(MiB))  # the rest waits in the socket
        stop = threading.Event()
        results, threads = self.run_readers(name, stop)
        t_put = time.monotonic()
        st, body, t_replace = self.paced_put(name, new, self.gate_on(
            results, lambda r: r[4] == sha_old, "a whole GET during the replacement",
            self.SIZE // MiB // 2))
        self.assertEqual(st, 201, body)
        self.assertEqual(json.loads(body)["sha256"], sha_new)
        wait_until(lambda: any(r[0] > t_replace for r in list(results)), "a GET after the 201")
        stop.set()
        for t in threads:
            t.join(LIMIT)
        while True:
            b = slow_r.read(MiB)
            if not b:
                break
            slow_h.update(b)
        slow.close()

        during_old = [r for r in results if r[0] >= t_put and r[1] <= t_replace and
                      r[4] == sha_old]
        after_new = [r for r in results if r[0] > t_replace and r[4] == sha_new]
        bad = [r for r in results if (r[2], r[3]) != (200, self.SIZE) or
               r[4] not in (sha_old, sha_new)]
        print("\n  rename atomicity: creation %d GETs (%d x 404), replacement %d GETs: %d old "
              "during the PUT, %d new after, %d other; slow reader %s"
              % (len(created), sum(r[2] == 404 for r in created), len(results), len(during_old),
                 len(after_new), len(bad),
                 "old" if slow_h.hexdigest() == sha_old else "NOT old"), file=sys.stderr)
        self.assertEqual(bad, [], "a GET returned neither the old nor the new content")
        for r in results:
            if r[0] > t_replace:
                self.assertEqual(r[4], sha_new, "old content for a GET sent after the 201")
        self.assertTrue(during_old, "no GET completed during the replacement")
        self.assertTrue(after_new, "no GET after the replacement")
        self.assertEqual(slow_h.hexdigest(), sha_old,
                         "a download opened before the replacement did not read the old file")
        self.assertEqual(sha256_file(os.path.join(self.srv.root, name)), sha_new)
        self.assertEqual(self.srv.tmp_files(), [])


if __name__ == "__main__":
    unittest.main()
