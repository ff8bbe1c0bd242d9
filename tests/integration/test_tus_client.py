"""tus 1.0 interop with the real tus-js-client (docs/tus.md), run by Node.js.

tests/integration/tus/upload.js drives tus-js-client (pinned in tus/package.json); install it
first with `npm ci --prefix tests/integration/tus`. Without node (>= 18) or that install every
test here FAILS with a message saying so: it never skips.

a. 200 MiB through a TCP proxy that cuts the connection after every 33 MiB forwarded to the server
   (5 cuts: a FIN on both sides, a RST on both sides, or a "stall": a RST to the client while the
   server's side stays open and silent, as a drop the server never sees): tus-js-client's retries
   resume from the offset HEAD reports, the server ends a stalled PATCH when the client comes
   back (one writer); the file is byte-identical, nothing is left in .sluice/tmp.
b. parallelUploads 3: three partial uploads and a final concatenation; byte-identical, and the
   parts are gone from ROOT/.sluice/tus (and HEAD on them is 404).
c. kill -9 in the middle of a 300 MiB PATCH (the proxy holds the stream at 200 MiB, the PATCH
   open, until a checkpoint has recorded what arrived): after a restart on the same root HEAD
   reports an offset no larger than what reached the server and no smaller than that checkpoint;
   tus-js-client resumes by the upload URL on the new port and the result is byte-identical.
d. metadata: filename=report.bin (plus a UTF-8 value) is echoed by HEAD and names the file;
   a second upload of that name lands in ROOT/<id>/report.bin; `name` (Uppy) is the fallback.
e. upload.abort() once 40 MiB are sent (--stop-after-bytes; the proxy holds the stream at 60 MiB
   until the client has stopped, so it cannot finish first): the dropped PATCH keeps its bytes,
   the offset survives kill -9, and a second run resumes through tus-js-client's URL storage
   (--store-fingerprint) without creating a new upload.
f. the other creation extensions as tus-js-client uses them: creation-with-upload
   (uploadDataDuringCreation, chunked and whole), creation-defer-length (a stream of unknown
   size), and an empty file (committed by its POST).

Run: cd /work/main && npm ci --prefix tests/integration/tus &&
     SLUICE_BIN=build/sluice python3 -m unittest tests/integration/test_tus_client.py -v
"""
import base64
import email.utils
import hashlib
import http.client
import json
import os
import re
import selectors
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LIMIT, Server, sha256_file, tus_record, wait_until  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TUS_DIR = os.path.join(HERE, "tus")
UPLOAD_JS = os.path.join(TUS_DIR, "upload.js")
MiB = 1 << 20
ID_RE = re.compile(r"/uploads/([0-9a-f]{32})$")


def node_problem():
    """Why the Node.js side cannot run, or None."""
    node = shutil.which("node")
    if node is None:
        return ("node is not installed: these tests run tus-js-client under Node.js >= 18 "
                "(Debian: apt-get install nodejs npm; then npm ci --prefix tests/integration/tus)")
    try:
        v = subprocess.run([node, "--version"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=20).stdout.decode().strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return "node --version failed: %s" % e
    m = re.match(r"v(\d+)\.", v)
    if not m or int(m.group(1)) < 18:
        return "node %r is too old: tus-js-client 4 needs Node.js >= 18" % v
    if not os.path.isfile(os.path.join(TUS_DIR, "node_modules", "tus-js-client", "package.json")):
        return ("tus-js-client is not installed in %s/node_modules: run "
                "`npm ci --prefix tests/integration/tus` first" % TUS_DIR)
    return None


def make_file(dirpath, name, size):
    """A file of size random bytes; returns (path, sha256 hex)."""
    path = os.path.join(dirpath, name)
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            b = os.urandom(min(left, 8 * MiB))
            h.update(b)
            f.write(b)
            left -= len(b)
    return path, h.hexdigest()


def parse_metadata(value):
    """Upload-Metadata header -> {key: decoded str or None}."""
    out = {}
    for pair in value.split(","):
        parts = pair.strip().split(" ")
        value = parts[1] if len(parts) > 1 else None
        out[parts[0]] = None if value is None else base64.b64decode(value, validate=True).decode()
    return out


class Proxy:
    """A TCP proxy on 127.0.0.1 (one selector thread) in front of a server port.

    cut_every: after every that many bytes forwarded client->server (all connections together),
    cut the connection that carries them, at most max_cuts times, each time the next of
    cut_kinds (cycling): "fin" closes both sides, "rst" resets both (SO_LINGER 0), "stall" resets
    the client side only and keeps the server side open and silent, as a network drop that the
    server does not see (the proxy then reads and drops what the server sends, and closes when
    the server closes). rate: bytes/s limit of client->server forwarding.
    mark: bytes forwarded client->server after which mark_event is set; with hold, nothing more
    is forwarded client->server until release().
    target can be changed while running (a restarted server on another port)."""

    def __init__(self, target, cut_every=None, max_cuts=0, cut_kinds=("fin", "rst"), rate=None,
                 mark=None, hold=False):
        self.target = target
        self.hold = hold
        self.cut_kinds = cut_kinds
        self.cut_every = cut_every
        self.max_cuts = max_cuts
        self.rate = rate
        self.mark = mark
        self.mark_event = threading.Event()
        self.forwarded = 0          # client -> server bytes, accepted by send()
        self.cuts = []              # (forwarded at the cut, kind)
        self.stalls_closed = []     # seconds from a stall until the server closed its side
        self.accepted = 0
        self.upstream_failures = 0
        self.lock = threading.Lock()
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.lsock.setblocking(False)
        self.port = self.lsock.getsockname()[1]
        self.conns = []
        self.stopping = False
        self.error = None
        self.t0 = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def live(self):
        with self.lock:
            return len(self.conns)

    def release(self):
        """Forward past the mark again (hold)."""
        self.hold = False

    def stalled_open(self):
        with self.lock:
            return len([c for c in self.conns if c.get("stalled")])

    def stop(self):
        self.stopping = True
        self.thread.join(10)
        if self.thread.is_alive():
            raise AssertionError("proxy thread did not stop")
        if self.error:
            raise AssertionError("proxy failed: %s" % self.error)

    # --- the loop ---------------------------------------------------------------------------

    def _next_cut(self):
        if self.cut_every is None or len(self.cuts) >= self.max_cuts:
            return None
        return (len(self.cuts) + 1) * self.cut_every

    def _close(self, c, rst=False):
        if c.get("closed"):
            return
        c["closed"] = True
        for s in (c["cli"], c["srv"]):
            try:
                self.sel.unregister(s)
            except (KeyError, ValueError):
                pass
            if rst:
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            s.close()
        if c.get("stalled"):
            self.stalls_closed.append(time.monotonic() - c["stalled"])
        with self.lock:
            self.conns.remove(c)

    def _stall(self, c):
        cli = c["cli"]
        if c["events"].pop(cli, 0):
            self.sel.unregister(cli)
        try:
            cli.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        cli.close()
        c["up"] = c["down"] = b""
        c["stalled"] = time.monotonic()

    def _accept(self):
        while True:
            try:
                cli, _ = self.lsock.accept()
            except BlockingIOError:
                return
            self.accepted += 1
            try:
                srv = socket.create_connection(("127.0.0.1", self.target), timeout=2)
            except OSError:
                self.upstream_failures += 1
                cli.close()
                continue
            cli.setblocking(False)
            srv.setblocking(False)
            c = {"cli": cli, "srv": srv, "up": b"", "down": b"", "cli_eof": False,
                 "srv_eof": False, "up_shut": False, "down_shut": False, "events": {}}
            with self.lock:
                self.conns.append(c)

    def _budget(self, now):
        """How many more client->server bytes may be read now."""
        n = 256 * 1024
        if self.rate is not None:
            if self.t0 is None:
                self.t0 = now
            n = min(n, int(self.rate * (now - self.t0)) + 64 * 1024 - self.forwarded)
        nc = self._next_cut()
        if nc is not None:
            n = min(n, nc - self.forwarded)
        if self.hold and self.mark is not None:
            n = min(n, self.mark - self.forwarded)
        return n

    def _interest(self, c, now):
        if c.get("stalled"):
            want = {c["srv"]: selectors.EVENT_READ}
        else:
            want = {c["cli"]: 0, c["srv"]: 0}
            if not c["up"] and not c["cli_eof"] and self._budget(now) > 0:
                want[c["cli"]] |= selectors.EVENT_READ
            if c["up"]:
                want[c["srv"]] |= selectors.EVENT_WRITE
            if not c["down"] and not c["srv_eof"]:
                want[c["srv"]] |= selectors.EVENT_READ
            if c["down"]:
                want[c["cli"]] |= selectors.EVENT_WRITE
        for s, ev in want.items():
            old = c["events"].get(s, 0)
            if ev == old:
                continue
            if old == 0:
                self.sel.register(s, ev, c)
            elif ev == 0:
                self.sel.unregister(s)
            else:
                self.sel.modify(s, ev, c)
            c["events"][s] = ev

    def _step(self, c, sock, ev, now):
        if c.get("stalled"):
            if sock is not c["srv"]:
                return
            try:
                if sock.recv(256 * 1024):
                    return
            except OSError:
                pass
            self._close(c)
            return
        try:
            if sock is c["cli"] and ev & selectors.EVENT_READ and not c["up"]:
                n = self._budget(now)
                if n > 0:
                    d = sock.recv(n)
                    if d:
                        c["up"] = d
                    else:
                        c["cli_eof"] = True
            if sock is c["srv"] and ev & selectors.EVENT_READ and not c["down"]:
                d = sock.recv(256 * 1024)
                if d:
                    c["down"] = d
                else:
                    c["srv_eof"] = True
            if sock is c["srv"] and ev & selectors.EVENT_WRITE and c["up"]:
                k = sock.send(c["up"])
                c["up"] = c["up"][k:]
                self.forwarded += k
                if self.mark is not None and self.forwarded >= self.mark:
                    self.mark_event.set()
                nc = self._next_cut()
                if nc is not None and self.forwarded >= nc:
                    kind = self.cut_kinds[len(self.cuts) % len(self.cut_kinds)]
                    self.cuts.append((self.forwarded, kind))
                    if kind == "stall":
                        self._stall(c)
                    else:
                        self._close(c, rst=(kind == "rst"))
                    return
            if sock is c["cli"] and ev & selectors.EVENT_WRITE and c["down"]:
                k = sock.send(c["down"])
                c["down"] = c["down"][k:]
        except (ConnectionError, OSError):
            self._close(c, rst=True)
            return
        # pass a half-close on once everything before it went through
        if c["cli_eof"] and not c["up"] and not c["up_shut"]:
            c["up_shut"] = True
            try:
                c["srv"].shutdown(socket.SHUT_WR)
            except OSError:
                pass
        if c["srv_eof"] and not c["down"] and not c["down_shut"]:
            c["down_shut"] = True
            try:
                c["cli"].shutdown(socket.SHUT_WR)
            except OSError:
                pass
        if c["up_shut"] and c["down_shut"]:
            self._close(c)

    def _run(self):
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.lsock, selectors.EVENT_READ, None)
        try:
            while not self.stopping:
                now = time.monotonic()
                for c in list(self.conns):
                    if not c.get("closed"):
                        self._interest(c, now)
                for key, ev in self.sel.select(0.005 if self.rate else 0.05):
                    if key.data is None:
                        self._accept()
                    elif not key.data.get("closed"):
                        self._step(key.data, key.fileobj, ev, time.monotonic())
        except Exception:  # noqa: BLE001 -- reported by stop()
            self.error = traceback.format_exc()
        finally:
            for c in list(self.conns):
                self._close(c)
            self.sel.close()
            self.lsock.close()


class TusClientTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        problem = node_problem()
        if problem:
            self.fail(problem)
        self.work = tempfile.mkdtemp(prefix="sluice-tus-files-")
        self.root = tempfile.mkdtemp(prefix="sluice-tus-root-")
        self.servers = []
        self.proxies = []

    def tearDown(self):
        problems = []
        for p in self.proxies:
            try:
                p.stop()
            except AssertionError as e:
                problems.append(str(e))
        for s in self.servers:
            if s.proc is None:
                continue
            killed = s.proc.poll() is not None and s.proc.returncode == -9
            out = s.output()
            rc = s.stop()
            if not killed and rc != 0:
                problems.append("sluice exited %s: %s" % (rc, out[-3000:]))
            for bad in ("AddressSanitizer", "runtime error", "LeakSanitizer"):
                if bad in out:
                    problems.append("%s in the server log: %s" % (bad, out[-3000:]))
        shutil.rmtree(self.work, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)
        if problems:
            self.fail("\n".join(problems))

    # --- helpers ------------------------------------------------------------------------------

    def server(self, *args):
        s = Server(*args, root=self.root)
        self.servers.append(s)
        return s.start()

    def proxy(self, target, **kw):
        p = Proxy(target, **kw)
        self.proxies.append(p)
        return p

    def logs(self):
        return "\n".join("--- server log (port %s, exit %s):\n%s"
                         % (s.port, s.proc.poll(), s.output()[-2500:])
                         for s in self.servers if s.proc is not None and not s.log.closed)

    def node_cmd(self, path, endpoint, *args, timeout=60):
        return [shutil.which("node"), UPLOAD_JS, path, endpoint,
                "--timeout", str(timeout)] + list(args)

    def parse(self, rc, out, err):
        lines = out.decode(errors="replace").strip().splitlines()
        self.assertTrue(lines, "upload.js printed nothing (rc %s); stderr: %s\n%s"
                        % (rc, err.decode(errors="replace")[-2000:], self.logs()))
        try:
            return json.loads(lines[-1])
        except ValueError:
            self.fail("upload.js printed no JSON (rc %s): %r; stderr: %s"
                      % (rc, lines[-1][:500], err.decode(errors="replace")[-2000:]))

    def upload(self, path, endpoint, *args, timeout=60):
        """Run upload.js to its end; returns (exit status, its JSON result)."""
        p = subprocess.run(self.node_cmd(path, endpoint, *args, timeout=timeout),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout + 20)
        return p.returncode, self.parse(p.returncode, p.stdout, p.stderr)

    def assert_ok(self, rc, res):
        brief = dict(res, requests=["%s %s -> %s %s" % (r["method"], r["url"], r["status"],
                                                      r.get("sent", {}).get("upload-offset", ""))
                                    for r in res.get("requests", [])])
        self.assertEqual(rc, 0, "upload.js failed: %s\n%s" % (json.dumps(brief, indent=1),
                                                               self.logs()))
        self.assertTrue(res["ok"] and res["complete"], json.dumps(brief, indent=1))

    def head(self, port, path, timeout=10):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            c.request("HEAD", path, headers={"Tus-Resumable": "1.0.0"})
            r = c.getresponse()
            r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}
        finally:
            c.close()

    def assert_unfinished_head(self, st, h, size, meta=None):
        """HEAD of an unfinished upload (docs/tus.md, Requests)."""
        self.assertEqual(st, 200, "%s %s\n%s" % (st, h, self.logs()))
        self.assertEqual(h.get("tus-resumable"), "1.0.0", h)
        self.assertEqual(h.get("upload-length"), str(size), h)
        self.assertEqual(h.get("cache-control"), "no-store", h)
        self.assertNotIn("sluice-file", h)
        self.assertIn("upload-expires", h)
        exp = email.utils.parsedate_to_datetime(h["upload-expires"]).timestamp()
        self.assertGreater(exp, time.time(), h)
        if meta is not None:
            self.assertEqual(parse_metadata(h.get("upload-metadata", "")), meta, h)
        return int(h["upload-offset"])

    def committed(self, sluice_file):
        """The path under the root that a Sluice-File value (/files/<name>) names."""
        self.assertIsNotNone(sluice_file, "no Sluice-File header")
        self.assertTrue(sluice_file.startswith("/files/"), sluice_file)
        rel = urllib.parse.unquote(sluice_file[len("/files/"):])
        self.assertFalse(rel.startswith("/") or ".." in rel.split("/"), sluice_file)
        return os.path.join(self.root, rel)

    def tus_dir(self):
        d = os.path.join(self.root, ".sluice", "tus")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def tmp_dir(self):
        d = os.path.join(self.root, ".sluice", "tmp")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def upload_id(self, url):
        m = ID_RE.search(urllib.parse.urlsplit(url or "").path)
        self.assertIsNotNone(m, "not an upload URL /uploads/<32 hex>: %r" % url)
        return m.group(1)

    def assert_committed(self, res, name, sha, size):
        """The finished upload: last response and HEAD say Sluice-File /files/<name>, the file
        under the root is byte-identical, the upload's data file is gone, no temp files."""
        last = res["lastResponseHeaders"] or {}
        self.assertEqual(last.get("sluice-file"), "/files/" + name,
                         "completing response headers: %s" % last)
        self.assertEqual(res["head"]["status"], 200, res["head"])
        hh = res["head"]["headers"]
        self.assertEqual(hh.get("upload-offset"), str(size), hh)
        self.assertEqual(hh.get("upload-length"), str(size), hh)
        self.assertEqual(hh.get("sluice-file"), "/files/" + name, hh)
        self.assertEqual(hh.get("tus-resumable"), "1.0.0", hh)
        self.assertEqual(hh.get("cache-control"), "no-store", hh)
        path = self.committed(last.get("sluice-file"))
        self.assertTrue(os.path.isfile(path),
                        "%s missing; root has %s" % (path, os.listdir(self.root)))
        self.assertEqual(os.path.getsize(path), size)
        self.assertEqual(sha256_file(path), sha, "committed file differs from the source")
        uid = self.upload_id(res["url"])
        self.assertNotIn(uid + ".data", self.tus_dir(),
                         "the completed upload's data file stays in .sluice/tus")
        self.assertEqual(self.tmp_dir(), [], ".sluice/tmp leftovers")

    # --- a ------------------------------------------------------------------------------------

    def test_a_cut_connections_resume(self):
        size = 200 * MiB
        path, sha = make_file(self.work, "big.bin", size)
        srv = self.server()
        px = self.proxy(srv.port, cut_every=33 * MiB, max_cuts=5, cut_kinds=("fin", "stall", "rst"))
        t = time.time()
        rc, res = self.upload(path, px.url + "/uploads/", "--metadata", "filename=big.bin",
                              "--retry-delays", "0,200,500,1000,1000,2000", timeout=4 * LIMIT)
        self.assert_ok(rc, res)
        print("\n  a: 200 MiB, %d cuts %s, %d connections, %.1fs"
              % (len(px.cuts), [k for _, k in px.cuts], px.accepted, time.time() - t),
              file=sys.stderr)
        self.assertGreaterEqual(len(px.cuts), 3, "the proxy cut only %s times" % len(px.cuts))
        self.assertIn("stall", [k for _, k in px.cuts])
        # one writer: the retry's HEAD made the server end the PATCH it still had open (the
        # stalled connection stays open otherwise: its client never closes it, and the idle
        # timeout, 60 s, is past the LIMIT this waits)
        wait_until(lambda: px.stalled_open() == 0,
                   lambda: "the server to close the dropped PATCH's connection after the client "
                   "came back\n" + self.logs())
        patches = [r for r in res["requests"] if r["method"] == "PATCH"]
        heads = [r for r in res["requests"] if r["method"] == "HEAD"]
        self.assertGreaterEqual(len(patches), len(px.cuts) + 1, res["requests"])
        self.assertGreaterEqual(len(heads), len(px.cuts), "each retry starts with HEAD")
        self.assertEqual(len([r for r in res["requests"] if r["method"] == "POST"]), 1,
                         "a retry created a new upload instead of resuming")
        # every resumed PATCH started where the preceding HEAD said, and that was progress
        offsets = []
        for i, r in enumerate(res["requests"]):
            if r["method"] == "HEAD":
                self.assertEqual(r["status"], 200, r)
                nxt = res["requests"][i + 1]
                self.assertEqual(nxt["method"], "PATCH", res["requests"][i:i + 2])
                self.assertEqual(nxt["sent"]["upload-offset"], r["resHeaders"]["upload-offset"])
                offsets.append(int(r["resHeaders"]["upload-offset"]))
        self.assertEqual(offsets, sorted(offsets), "HEAD offsets went backwards")
        self.assertGreater(offsets[0], 0, "a cut PATCH kept none of its bytes")
        for (cut_at, _), off in zip(px.cuts, offsets):
            self.assertLessEqual(off, cut_at, "offset past what the proxy forwarded")
        self.assert_committed(res, "big.bin", sha, size)
        self.assertEqual(srv.final_files(), ["big.bin"])

    # --- b ------------------------------------------------------------------------------------

    def test_b_parallel_concatenation(self):
        size = 30 * MiB + 12345
        path, sha = make_file(self.work, "par.bin", size)
        srv = self.server()
        rc, res = self.upload(path, srv.url + "/uploads/", "--parallel", "3",
                              "--chunk-size", str(4 * MiB), "--metadata", "filename=parallel.bin",
                              "--retry-delays", "none", timeout=4 * LIMIT)
        self.assert_ok(rc, res)
        patches = [r for r in res["requests"] if r["method"] == "PATCH"]
        self.assertEqual(len(patches), 9, "3 parts of 10 MiB in 4 MiB chunks")
        for r in patches:
            self.assertEqual(r["status"], 204, r)
        posts = [r for r in res["requests"] if r["method"] == "POST"]
        parts = [r for r in posts if r["sent"].get("upload-concat") == "partial"]
        finals = [r for r in posts if r["sent"].get("upload-concat", "").startswith("final;")]
        self.assertEqual(len(parts), 3, posts)
        self.assertEqual(len(finals), 1, posts)
        for r in parts:
            self.assertEqual(r["status"], 201, r)
        part_urls = [urllib.parse.urljoin(srv.url + "/uploads/", r["resHeaders"]["location"])
                     for r in parts]
        part_ids = [self.upload_id(u) for u in part_urls]
        self.assertEqual(res["lastResponseStatus"], 201)
        hh = res["head"]["headers"]
        self.assertTrue(hh.get("upload-concat", "").startswith("final;"), hh)
        self.assertEqual(sorted(hh["upload-concat"][len("final;"):].split()),
                         sorted(urllib.parse.urlsplit(u).path for u in part_urls), hh)
        self.assert_committed(res, "parallel.bin", sha, size)
        self.assertEqual(srv.final_files(), ["parallel.bin"],
                         "a partial upload was committed on its own")
        left = [f for f in self.tus_dir() if any(f.startswith(i) for i in part_ids)]
        self.assertEqual(left, [], "parts not removed from .sluice/tus: %s" % self.tus_dir())
        for u in part_urls:
            st, h = self.head(srv.port, urllib.parse.urlsplit(u).path)
            self.assertEqual(st, 404, "HEAD on a removed part %s: %s %s" % (u, st, h))
            self.assertNotIn("upload-offset", h)

    # --- c ------------------------------------------------------------------------------------

    def test_c_kill9_mid_patch_resume(self):
        size = 300 * MiB
        rate, kill_at = 50 * MiB, 200 * MiB
        path, sha = make_file(self.work, "killed.bin", size)
        s1 = self.server()
        px = self.proxy(s1.port, rate=rate, mark=kill_at, hold=True)
        p = subprocess.Popen(self.node_cmd(path, px.url + "/uploads/", "--metadata",
                                           "filename=killed.bin", "--retry-delays", "none",
                                           timeout=4 * LIMIT),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            fired = px.mark_event.wait(2 * LIMIT)
            if not fired:
                p.kill()
            self.assertTrue(fired, "the proxy forwarded only %d bytes\n%s"
                            % (px.forwarded, self.logs()))
            # the stream is held at the mark, the PATCH open: a tick records what arrived (all
            # but the request heads) before the kill
            infos = lambda: [f for f in self.tus_dir() if f.endswith(".info")]  # noqa: E731
            recorded = wait_until(
                lambda: len(infos()) == 1 and (tus_record(self.root, infos()[0][:-5]) or {}).get(
                    "offset", 0) >= px.forwarded - 4096 and
                tus_record(self.root, infos()[0][:-5])["offset"],
                lambda: "a checkpoint of the %d bytes forwarded: %s" % (px.forwarded, infos()))
            s1.proc.kill()
            s1.proc.wait(LIMIT)
            out, err = p.communicate(timeout=LIMIT)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        sent = px.forwarded  # an upper bound of what reached the server (with request heads)
        first = self.parse(p.returncode, out, err)
        self.assertNotEqual(p.returncode, 0, "the upload survived kill -9? %s" % first)
        self.assertFalse(first["complete"])
        uid = self.upload_id(first["url"])
        upath = "/uploads/" + uid

        s2 = self.server()
        st, h = self.head(s2.port, upath)
        off = self.assert_unfinished_head(st, h, size, {"filename": "killed.bin"})
        # durable: no more than reached the server, no less than was recorded before the kill
        print("\n  c: killed at %d MiB forwarded, offset after restart %.1f MiB (>= %.1f MiB)"
              % (sent // MiB, off / MiB, recorded / MiB), file=sys.stderr)
        self.assertLessEqual(off, sent, "offset %d past the %d bytes that reached the server"
                             % (off, sent))
        self.assertGreaterEqual(off, recorded, "offset %d: the checkpoint of %d bytes made before "
                                "the kill was lost\n%s" % (off, recorded, self.logs()))

        rc, res = self.upload(path, s2.url + "/uploads/", "--upload-url", s2.url + upath,
                              "--retry-delays", "none", timeout=4 * LIMIT)
        self.assert_ok(rc, res)
        self.assertEqual(self.upload_id(res["url"]), uid)
        self.assertEqual([r["method"] for r in res["requests"]][:2], ["HEAD", "PATCH"],
                         res["requests"])
        self.assertNotIn("POST", [r["method"] for r in res["requests"]])
        self.assertEqual(res["requests"][1]["sent"]["upload-offset"], str(off))
        self.assert_committed(res, "killed.bin", sha, size)
        self.assertEqual(s2.final_files(), ["killed.bin"])

    # --- d ------------------------------------------------------------------------------------

    def test_d_metadata_roundtrip(self):
        size = MiB + 3
        path, sha = make_file(self.work, "src1", size)
        srv = self.server()
        meta = {"filename": "report.bin", "filetype": "application/octet-stream",
                "note": "na\u00efve \u2713 \u00fcn\u00efcode, with spaces"}
        args = []
        for k, v in meta.items():
            args += ["--metadata", "%s=%s" % (k, v)]
        rc, res = self.upload(path, srv.url + "/uploads/", *args, timeout=4 * LIMIT)
        self.assert_ok(rc, res)
        self.assertEqual(parse_metadata(res["requests"][0]["sent"]["upload-metadata"]), meta)
        self.assertEqual(parse_metadata(res["head"]["headers"].get("upload-metadata", "")), meta,
                         res["head"])
        st, h = self.head(srv.port, urllib.parse.urlsplit(res["url"]).path)
        self.assertEqual(st, 200)
        self.assertEqual(parse_metadata(h.get("upload-metadata", "")), meta, h)
        self.assert_committed(res, "report.bin", sha, size)

        # the same name again never replaces: ROOT/<id>/report.bin
        path2, sha2 = make_file(self.work, "src2", 4097)
        rc, res2 = self.upload(path2, srv.url + "/uploads/", "--metadata", "filename=report.bin",
                               timeout=4 * LIMIT)
        self.assert_ok(rc, res2)
        id2 = self.upload_id(res2["url"])
        self.assert_committed(res2, id2 + "/report.bin", sha2, 4097)
        self.assertEqual(sha256_file(os.path.join(self.root, "report.bin")), sha)

        # Uppy's `name` when there is no `filename`; only the last path segment counts.
        # Sent with overridePatchMethod: POST + X-HTTP-Method-Override: PATCH.
        path3, sha3 = make_file(self.work, "src3", 777)
        rc, res3 = self.upload(path3, srv.url + "/uploads/", "--metadata",
                               "name=C:\\Users\\me/uppy.bin", "--override-patch", timeout=4 * LIMIT)
        self.assert_ok(rc, res3)
        self.assertEqual([(r["method"], r["sent"].get("x-http-method-override"), r["status"])
                          for r in res3["requests"]],
                         [("POST", None, 201), ("POST", "PATCH", 204)])
        self.assert_committed(res3, "uppy.bin", sha3, 777)
        self.assertEqual(srv.final_files(), sorted(["report.bin", id2 + "/report.bin", "uppy.bin"]))

    # --- e ------------------------------------------------------------------------------------

    def test_e_abort_kill9_resume_from_url_storage(self):
        size, stop = 120 * MiB, 40 * MiB
        path, sha = make_file(self.work, "stopped.bin", size)
        store = os.path.join(self.work, "tus-urls.json")
        s1 = self.server()
        # held at 60 MiB until the client has stopped: its (throttled, 100 ms) progress events
        # see 40 MiB go by, and it cannot finish the 120 MiB first however slowly it runs
        px = self.proxy(s1.port, rate=100 * MiB, mark=60 * MiB, hold=True)
        rc, first = self.upload(path, px.url + "/uploads/", "--metadata", "filename=stopped.bin",
                                "--store-fingerprint", store, "--stop-after-bytes", str(stop),
                                timeout=4 * LIMIT)
        px.release()
        self.assertEqual(rc, 0, first)
        self.assertTrue(first["stopped"] and not first["complete"], first)
        sent = first["bytesUploaded"]
        self.assertGreaterEqual(sent, stop)
        self.assertLess(sent, size)
        uid = self.upload_id(first["url"])
        upath = "/uploads/" + uid
        # the proxy passes the client's close on (a FIN after the bytes it holds); let the server
        # see the end of the body and close its side
        wait_until(lambda: px.live() == 0, "the server to close the aborted PATCH's connection")
        st, h = self.head(s1.port, upath)
        off1 = self.assert_unfinished_head(st, h, size, {"filename": "stopped.bin"})
        self.assertLessEqual(off1, sent)
        # a dropped connection keeps its bytes: all but the request heads reached the server
        self.assertGreaterEqual(off1, px.forwarded - 4096,
                                "offset %d after the aborted PATCH; the proxy forwarded %d bytes"
                                % (off1, px.forwarded))
        s1.proc.kill()
        s1.proc.wait(LIMIT)

        s2 = self.server()
        px.target = s2.port
        st, h = self.head(s2.port, upath)
        self.assertEqual(self.assert_unfinished_head(st, h, size, {"filename": "stopped.bin"}),
                         off1, "the offset HEAD reported did not survive kill -9")

        # resumed in 32 MiB PATCHes: each 204 says how far the upload got
        rc, res = self.upload(path, px.url + "/uploads/", "--store-fingerprint", store,
                              "--metadata", "filename=stopped.bin", "--chunk-size", str(32 * MiB),
                              timeout=4 * LIMIT)
        self.assert_ok(rc, res)
        with open(store) as f:
            self.assertEqual(json.load(f), {}, "a finished upload stays in the URL storage")
        patches = [r for r in res["requests"] if r["method"] == "PATCH"]
        want = list(range(off1, size, 32 * MiB))
        self.assertEqual([int(r["sent"]["upload-offset"]) for r in patches], want)
        self.assertEqual([int(r["resHeaders"]["upload-offset"]) for r in patches],
                         want[1:] + [size])
        for r in patches[:-1]:
            self.assertEqual(r["status"], 204, r)
            self.assertIn("upload-expires", r["resHeaders"])
            self.assertNotIn("sluice-file", r["resHeaders"])
        self.assertEqual(res["resumedFrom"], first["url"], "URL storage did not find the upload")
        self.assertEqual(res["url"], first["url"])
        self.assertNotIn("POST", [r["method"] for r in res["requests"]])
        self.assertEqual(res["requests"][1]["sent"]["upload-offset"], str(off1))
        self.assert_committed(res, "stopped.bin", sha, size)
        self.assertEqual(s2.final_files(), ["stopped.bin"])

    # --- f ------------------------------------------------------------------------------------

    def test_f_creation_extensions(self):
        size, chunk = 10 * 1000 * 1000 + 3, 3 * 1000 * 1000
        path, sha = make_file(self.work, "src", size)
        srv = self.server()
        ep = srv.url + "/uploads/"

        # creation-with-upload: the first chunk rides on the POST
        rc, res = self.upload(path, ep, "--data-during-creation", "--chunk-size", str(chunk),
                              "--metadata", "filename=dc.bin", timeout=4 * LIMIT)
        self.assert_ok(rc, res)
        steps = [(r["method"], r["status"], r["sent"].get("upload-offset"),
                  r["resHeaders"].get("upload-offset")) for r in res["requests"]]
        self.assertEqual(steps, [("POST", 201, None, "3000000"),
                                 ("PATCH", 204, "3000000", "6000000"),
                                 ("PATCH", 204, "6000000", "9000000"),
                                 ("PATCH", 204, "9000000", str(size))])
        self.assert_committed(res, "dc.bin", sha, size)

        # ... the whole file on the POST: its 201 commits
        rc, res = self.upload(path, ep, "--data-during-creation", "--metadata",
                              "filename=dc1.bin", timeout=4 * LIMIT)
        self.assert_ok(rc, res)
        self.assertEqual([(r["method"], r["status"]) for r in res["requests"]], [("POST", 201)])
        self.assert_committed(res, "dc1.bin", sha, size)

        # creation-defer-length: a stream of unknown size; the last PATCH says the length
        rc, res = self.upload(path, ep, "--defer-length", "--chunk-size", str(chunk),
                              "--metadata", "filename=dl.bin", timeout=4 * LIMIT)
        self.assert_ok(rc, res)
        post, patches = res["requests"][0], res["requests"][1:]
        self.assertEqual(post["sent"].get("upload-defer-length"), "1", post)
        self.assertNotIn("upload-length", post["sent"])
        self.assertEqual(post["resHeaders"].get("upload-defer-length"), "1", post)
        self.assertEqual(len(patches), 4, res["requests"])
        for r in patches[:-1]:
            self.assertEqual(r["status"], 204, r)
            self.assertEqual(r["resHeaders"].get("upload-defer-length"), "1", r)
            self.assertNotIn("upload-length", r["sent"])
        self.assertEqual(patches[-1]["sent"].get("upload-length"), str(size), patches[-1])
        self.assert_committed(res, "dl.bin", sha, size)

        # an empty file: the POST commits it
        empty = os.path.join(self.work, "empty")
        open(empty, "wb").close()
        rc, res = self.upload(empty, ep, "--metadata", "filename=empty.bin", timeout=4 * LIMIT)
        self.assert_ok(rc, res)
        self.assertEqual([(r["method"], r["status"]) for r in res["requests"]], [("POST", 201)])
        self.assert_committed(res, "empty.bin", hashlib.sha256(b"").hexdigest(), 0)
        self.assertEqual(srv.final_files(), ["dc.bin", "dc1.bin", "dl.bin", "empty.bin"])


if __name__ == "__main__":
    unittest.main()
