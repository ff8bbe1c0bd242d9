"""libsluice embedded: examples/embed.c (a libuv service with its own routes, sluice mounted at
/api/upload/, a bearer token checked asynchronously in on_request) driven over HTTP, and the
shared library's exports.

$SLUICE_EMBED_BINS: colon-separated example binaries to test (ctest: the one built in the tree;
quickstart.sh also passes the ones built out of tree against the installed package through
pkg-config and find_package, shared and static). $SLUICE_LIB: the libsluice.so whose exports
are checked, with libsluice.a beside it and sluice_version.h in ./include or ../include.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LIMIT, TOP, popen_logged, read_until_done, status_of,  # noqa: E402
                     wait_until)

BINS = [b for b in os.environ.get("SLUICE_EMBED_BINS",
                                  os.path.join(TOP, "build", "sluice_embed")).split(":") if b]
MHD_BINS = [b for b in os.environ.get("SLUICE_EMBED_MHD_BINS",
                                      os.path.join(TOP, "build", "sluice_embed_mhd")).split(":") if b]
LIB = os.environ.get("SLUICE_LIB", os.path.join(TOP, "build", "libsluice.so"))
TOKEN = "t0ken"
AUTH = "Authorization: Bearer %s\r\n" % TOKEN


class Embedded:
    def __init__(self, binary):
        self.root = tempfile.mkdtemp(prefix="sluice-embed-")
        self.log = tempfile.NamedTemporaryFile()
        self.p = popen_logged([binary, "0", self.root, TOKEN], self.log)
        m = wait_until(lambda: self.p.poll() is not None or re.search(
            rb"listening on http://127\.0\.0\.1:(\d+)", self.output().encode()),
            lambda: "embed to start: " + self.output())
        if m is True:
            raise AssertionError("embed exited %s: %s" % (self.p.returncode, self.output()))
        self.port = int(m.group(1))

    def output(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def request(self, raw, timeout=LIMIT):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        try:
            s.sendall(raw)
            return read_until_done(s, timeout)[0]
        finally:
            s.close()

    def stats(self):
        resp = self.request(b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n")
        return json.loads(resp.split(b"\r\n\r\n", 1)[1])

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(timeout=30)
        out = self.output()
        self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)
        return rc, out


def put(path, body, auth=True, extra=""):
    return (b"PUT %s HTTP/1.1\r\nHost: x\r\n%s%sContent-Length: %d\r\n\r\n"
            % (path.encode(), (AUTH if auth else "").encode(), extra.encode(), len(body)) + body)


class EmbedExample(unittest.TestCase):
    def each(self, fn):
        for b in BINS:
            with self.subTest(binary=b):
                e = Embedded(b)
                try:
                    fn(e)
                finally:
                    rc, out = e.stop()
                    self.assertEqual(rc, 0, out)
                    self.assertIn("loop closed clean", out)
                    self.assertNotIn("AddressSanitizer", out)
                    self.assertNotIn("runtime error", out)

    def test_own_routes_and_the_mount(self):
        def check(e):
            r = e.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(status_of(r), 200, r)
            self.assertIn(b"embed:", r)
            self.assertEqual(status_of(e.request(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")), 404)
            # sluice's URLs only exist under the mount
            self.assertEqual(status_of(e.request(put("/files/a.bin", b"x"))), 404)
            r = e.request(b"GET /api/upload/healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(status_of(r), 200, r)
        self.each(check)

    def test_token_guards_reads_and_deletes_too(self):
        def check(e):
            self.assertEqual(status_of(e.request(put("/api/upload/files/v.txt", b"secret"))), 201)
            for raw in (b"GET /api/upload/files/v.txt HTTP/1.1\r\nHost: x\r\n\r\n",
                        b"DELETE /api/upload/files/v.txt HTTP/1.1\r\nHost: x\r\n\r\n",
                        b"GET /api/upload/files/ HTTP/1.1\r\nHost: x\r\n\r\n"):
                self.assertEqual(status_of(e.request(raw)), 401, raw)
            self.assertTrue(os.path.exists(os.path.join(e.root, "v.txt")))
            r = e.request(b"GET /api/upload/files/v.txt HTTP/1.1\r\nHost: x\r\n" +
                          AUTH.encode() + b"\r\n")
            self.assertEqual(status_of(r), 200, r)
            self.assertTrue(r.endswith(b"secret"))
        self.each(check)

    def test_token_checked_before_the_body(self):
        def check(e):
            body = os.urandom(100000)
            # no token: refused without 100 Continue, nothing stored
            s = socket.create_connection(("127.0.0.1", e.port), timeout=10)
            s.sendall(b"PUT /api/upload/files/a.bin HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body))
            r, _ = read_until_done(s, 10)
            s.close()
            self.assertEqual(status_of(r), 401, r)
            self.assertNotIn(b"100 Continue", r)
            self.assertIn(b"bearer token", r)
            self.assertFalse(os.path.exists(os.path.join(e.root, "a.bin")))
            # a wrong token: 401 too
            r = e.request(put("/api/upload/files/a.bin", body, auth=False,
                              extra="Authorization: Bearer nope\r\n"))
            self.assertEqual(status_of(r), 401, r)
            # the token: 201, with the hook's member and the mount in Location
            r = e.request(put("/api/upload/files/a.bin", body))
            self.assertEqual(status_of(r), 201, r)
            doc = json.loads(r.split(b"\r\n\r\n", 1)[1])
            self.assertEqual(doc["owner"], "token-holder")
            self.assertEqual(doc["size"], len(body))
            self.assertIn(b"Location: /api/upload/files/a.bin", r)
            with open(os.path.join(e.root, "a.bin"), "rb") as f:
                self.assertEqual(f.read(), body)
            st = e.stats()
            self.assertEqual((st["completed"], st["aborted"], st["bytes"]), (1, 0, len(body)))
        self.each(check)

    def test_tus_under_the_mount_completes_once(self):
        def check(e):
            data = b"hello embedded world"
            r = e.request(b"POST /api/upload/uploads/ HTTP/1.1\r\nHost: x\r\n" + AUTH.encode() +
                          b"Tus-Resumable: 1.0.0\r\nUpload-Length: %d\r\n"
                          b"Upload-Metadata: filename aGkudHh0\r\nContent-Length: 0\r\n\r\n"
                          % len(data))
            self.assertEqual(status_of(r), 201, r)
            loc = re.search(rb"Location: (\S+)", r).group(1)
            self.assertTrue(loc.startswith(b"/api/upload/uploads/"), loc)
            for off in (0, 5):
                part = data[off:off + 5] if off == 0 else data[off:]
                r = e.request(b"PATCH %s HTTP/1.1\r\nHost: x\r\n%sTus-Resumable: 1.0.0\r\n"
                              b"Upload-Offset: %d\r\nContent-Type: application/offset+octet-stream"
                              b"\r\nContent-Length: %d\r\n\r\n"
                              % (loc, AUTH.encode(), off, len(part)) + part)
                self.assertEqual(status_of(r), 204, r)
            self.assertIn(b"Sluice-File: /api/upload/files/hi.txt", r)
            self.assertEqual(e.stats()["completed"], 1)
            # without the token, creation is refused
            r = e.request(b"POST /api/upload/uploads/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0"
                          b"\r\nUpload-Length: 3\r\nContent-Length: 0\r\n\r\n")
            self.assertEqual(status_of(r), 401, r)
        self.each(check)

    def test_abort_and_progress(self):
        def check(e):
            n = 1 << 20
            s = socket.create_connection(("127.0.0.1", e.port), timeout=LIMIT)
            s.sendall(put("/api/upload/files/slow.bin", b"", extra="")[:-4].replace(
                b"Content-Length: 0", b"Content-Length: %d" % n) + b"\r\n\r\n")
            t0 = time.monotonic()
            # a KiB every 0.1 s (the client's pace) until three progress events came, then the
            # client goes away
            deadline, sent = t0 + LIMIT, 0
            while e.stats()["progress_events"] < 3:
                self.assertLess(time.monotonic(), deadline, "fewer than 3 progress events")
                self.assertLess(sent, n)
                s.sendall(b"x" * 1024)
                sent += 1024
                time.sleep(0.1)
            s.close()
            wait_until(lambda: e.stats()["aborted"] == 1, "the upload's abort")
            st = e.stats()
            elapsed = time.monotonic() - t0
            self.assertEqual((st["completed"], st["aborted"]), (0, 1), st)
            # progress_ms is 200: never more than one per 200 ms (all of them came between t0
            # and now)
            self.assertLessEqual(st["progress_events"], elapsed / 0.2 + 1, st)
            self.assertFalse(os.path.exists(os.path.join(e.root, "slow.bin")))
        self.each(check)


class EmbedInHostDaemon(unittest.TestCase):
    """examples/embed_mhd.c: the host's own libmicrohttpd daemon hands /api/upload/ to sluice."""

    def test_uploads_through_the_hosts_daemon(self):
        for b in MHD_BINS:
            with self.subTest(binary=b):
                e = Embedded(b)
                try:
                    r = e.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    self.assertEqual(status_of(r), 200, r)
                    self.assertIn(b"host's own page", r)
                    # large enough to fill the chain's buffers: suspend, resume, the host's kick
                    body = os.urandom(24 << 20)
                    r = e.request(put("/api/upload/files/big.bin", body, auth=False),
                                  timeout=2 * LIMIT)
                    self.assertEqual(status_of(r), 201, r)
                    self.assertIn(b"Location: /api/upload/files/big.bin", r)
                    with open(os.path.join(e.root, "big.bin"), "rb") as f:
                        self.assertEqual(f.read(), body)
                    r = e.request(b"POST /api/upload/uploads/ HTTP/1.1\r\nHost: x\r\n"
                                  b"Tus-Resumable: 1.0.0\r\nUpload-Length: 3\r\n"
                                  b"Content-Length: 0\r\n\r\n")
                    self.assertEqual(status_of(r), 201, r)
                    loc = re.search(rb"Location: (\S+)", r).group(1)
                    r = e.request(b"PATCH %s HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n"
                                  b"Upload-Offset: 0\r\nContent-Type: application/offset+octet-"
                                  b"stream\r\nContent-Length: 3\r\n\r\nabc" % loc)
                    self.assertEqual(status_of(r), 204, r)
                    self.assertIn(b"Sluice-File: /api/upload/files/", r)
                finally:
                    rc, out = e.stop()
                self.assertEqual(rc, 0, out)
                self.assertIn("loop closed clean", out)
                self.assertNotIn("AddressSanitizer", out)


def api_of_sluice_h():
    with open(os.path.join(TOP, "server", "api", "sluice.h")) as f:
        return set(re.findall(r"\b(sl_[a-z_]+)\s*\(", f.read()))


def project_version():
    with open(os.path.join(TOP, "CMakeLists.txt")) as f:
        return re.search(r"project\(sluice VERSION (\d+\.\d+\.\d+)", f.read()).group(1)


class Exports(unittest.TestCase):
    def test_only_the_api_of_sluice_h_is_exported(self):
        """libsluice.so: the functions of sluice.h, each at version SLUICE_0, and nothing else."""
        out = subprocess.run(["nm", "-D", "--defined-only", LIB], capture_output=True, text=True,
                             check=True).stdout
        syms = [line.split()[-1] for line in out.splitlines() if line.strip()]
        declared = api_of_sluice_h()
        self.assertIn("SLUICE_0", syms)  # the version node itself (an absolute symbol)
        names = sorted(s for s in syms if s != "SLUICE_0")
        self.assertTrue(names)
        for s in names:
            n, _, ver = s.partition("@@")
            self.assertEqual(ver, "SLUICE_0", s)
            self.assertTrue(n.startswith("sl_") and not n.startswith("sl__"), n)
            self.assertIn(n, declared, "%s is exported but not in sluice.h" % n)
        self.assertEqual(set(s.partition("@@")[0] for s in names), declared)

    def test_only_the_api_is_global_in_the_archive(self):
        """libsluice.a (beside the .so): every internal symbol is local, so none can clash with
        a host's own; what it still needs from elsewhere is no sluice name."""
        archive = os.path.join(os.path.dirname(LIB), "libsluice.a")
        out = subprocess.run(["nm", "-g", "--defined-only", archive], capture_output=True,
                             text=True, check=True).stdout
        names = set(line.split()[-1] for line in out.splitlines() if line.strip()
                    and not line.endswith(":"))
        self.assertEqual(names, api_of_sluice_h())
        out = subprocess.run(["nm", "-u", archive], capture_output=True, text=True,
                             check=True).stdout
        undefined = [line.split()[-1] for line in out.splitlines() if line.strip()
                     and not line.endswith(":")]
        self.assertEqual([n for n in undefined if n.startswith("sl_")], [])

    def test_version_of_header_and_library(self):
        """sl_version() at run time is project(VERSION), as SL_VERSION in the generated header
        installed beside sluice.h."""
        version = project_version()
        # ctypes in a child Python; a sanitizer build's library needs its runtime loaded first
        env = dict(os.environ)
        deps = subprocess.run(["ldd", LIB], capture_output=True, text=True).stdout
        asan = re.search(r"(\S*libasan\.so\S*) => (\S+)", deps)
        if asan:
            env["LD_PRELOAD"] = asan.group(2)
            env["ASAN_OPTIONS"] = "detect_leaks=0"  # Python's own allocations are not ours
        code = ("import ctypes, sys; lib = ctypes.CDLL(sys.argv[1]); "
                "lib.sl_version.restype = ctypes.c_char_p; print(lib.sl_version().decode())")
        got = subprocess.run([sys.executable, "-c", code, LIB], capture_output=True, text=True,
                             env=env, timeout=60)
        self.assertEqual(got.returncode, 0, got.stderr)
        self.assertEqual(got.stdout.strip(), version)
        here = os.path.dirname(LIB)  # the build directory, or an installation's lib/
        header = [os.path.join(d, "sluice_version.h") for d in
                  (os.path.join(here, "include"), os.path.join(here, os.pardir, "include"))]
        with open([h for h in header if os.path.exists(h)][0]) as f:
            header = f.read()
        self.assertIn('#define SL_VERSION "%s"' % version, header)
        major, minor, patch = version.split(".")
        self.assertRegex(header, r"#define SL_VERSION_MAJOR %s\b" % major)
        self.assertRegex(header, r"#define SL_VERSION_MINOR %s\b" % minor)
        self.assertRegex(header, r"#define SL_VERSION_PATCH %s\b" % patch)


if __name__ == "__main__":
    unittest.main()
