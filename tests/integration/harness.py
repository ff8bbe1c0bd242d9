"""Shared harness for sluice's integration tests.

Starts the real `sluice` binary (path from $SLUICE_BIN, else build/sluice) on an ephemeral
127.0.0.1 port with a fresh root, and offers small clients: curl, raw sockets, /proc readings.
Every wait is bounded; a server that does not come up or does not stop fails the test.

Tests wait on conditions, never on time: wait_until(pred, what) polls a condition (a metric from
GET /metrics, a file, a log line, a hook's event) and fails naming what it awaited after LIMIT
seconds. LIMIT is a hang guard, never the thing a test asserts: it is far above anything a loaded
machine needs and below the server's default --idle-timeout (60 s), so an answer that came within
it was the server's own doing, not an idle drop.
"""
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
BIN = os.environ.get("SLUICE_BIN", os.path.join(TOP, "build", "sluice"))
LIMIT = 30  # seconds: the hang guard of every wait_until (see above)


def wait_until(pred, what, limit=LIMIT, interval=0.02):
    """Poll pred() until it returns something true and return that. After `limit` seconds fail
    with an AssertionError naming `what` (a string, or a callable giving one) and pred's last
    value. The limit only keeps a broken server from hanging the test."""
    deadline = time.monotonic() + limit
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("still waiting after %ss for %s (last: %r)"
                                 % (limit, what() if callable(what) else what, v))
        time.sleep(interval)


def send_until_read(s, data, received, total, what="the bytes sent", limit=LIMIT):
    """Send data on socket s, then wait until received() (the server's count of body bytes
    read, sluice_received_bytes_total) reaches total: a client's pause that the server has
    caught up with, where a fixed sleep would only hope so."""
    s.sendall(data)
    wait_until(lambda: received() >= total,
               lambda: "%s read: %d of %d" % (what, received(), total), limit=limit)


def popen_logged(args, log):
    """subprocess.Popen(args) with stdout and stderr appended to the file `log` (open, with a
    name) through a description of the child's own: a seek of ours to read the log must not move
    where its next line goes (a shared offset put one line over another)."""
    with open(log.name, "ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=out)


def parse_metrics(text):
    """Prometheus text into {(name, frozenset of (label, value))}: value} (lenient; test_workers.py
    has the strict reader)."""
    out = {}
    for line in text.splitlines():
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        if not m or line.startswith("#"):
            continue
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def scrape(port, prefix=""):
    """GET prefix/metrics on a connection of its own: the parsed samples."""
    resp = exchange(port, b"GET %s/metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                    % prefix.encode())
    if status_of(resp) != 200:
        raise AssertionError("GET %s/metrics: %r" % (prefix, resp[:300]))
    return parse_metrics(resp.split(b"\r\n\r\n", 1)[1].decode())


def metric_sum(samples, name, **labels):
    """The sum over workers of the samples of `name` that carry `labels`."""
    want = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and want <= lab)


def children(pid):
    """Pids of the live (or not yet reaped) children of pid, from /proc."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            out.append(int(d))
    return out


def tus_record(root, uid):
    """A resumable upload's record (ROOT/.sluice/tus/ID.info, written by temp file and rename) as
    {"offset": int, "length": int, "expires": int}, or None while there is none."""
    try:
        with open(os.path.join(root, ".sluice", "tus", uid + ".info")) as f:
            text = f.read()
    except FileNotFoundError:
        return None
    return {k: int(v) for k, v in re.findall(r"(?m)^(offset|length|expires) (-?\d+)$", text)}


class Server:
    """One sluice process. `root` defaults to a new temp dir removed at stop()."""

    def __init__(self, *args, root=None, port=0):
        self.own_root = root is None
        self.root = root or tempfile.mkdtemp(prefix="sluice-it-")
        self.args = ["--listen", f"127.0.0.1:{port}", "--root", self.root] + list(args)
        self.proc = None
        self.port = None
        self.log_path = os.path.join(tempfile.gettempdir(), f"sluice-it-{os.getpid()}-{id(self)}.log")

    def start(self, timeout=LIMIT):
        self.log = open(self.log_path, "w+b")
        self.proc = popen_logged([BIN] + self.args, self.log)
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.log.seek(0)
            m = re.search(rb"listening on https?://[^:]+:(\d+)", self.log.read())
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                raise AssertionError(f"sluice exited {self.proc.returncode}: {self.output()}")
            time.sleep(0.02)
        raise AssertionError("sluice did not start: " + self.output())

    def output(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def mount(self):
        """The --mount prefix ("" at the top)."""
        for i, a in enumerate(self.args):
            if a == "--mount" and i + 1 < len(self.args):
                return self.args[i + 1].rstrip("/")
            if a.startswith("--mount="):
                return a.split("=", 1)[1].rstrip("/")
        return ""

    def metrics(self):
        """The server's /metrics, parsed (parse_metrics)."""
        return scrape(self.port, self.mount())

    def metric(self, name, **labels):
        """One metric summed over the workers, e.g. metric("sluice_uploads_failed_total",
        reason="idle"). Gauges are read now by the worker that answers."""
        return metric_sum(self.metrics(), name, **labels)

    def children(self):
        """The server's child processes (hook programs, or the workers of --workers)."""
        return children(self.proc.pid)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def pid(self):
        return self.proc.pid

    def rss_kib(self):
        """Current VmRSS of the server in KiB."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def cpu_seconds(self):
        """CPU time (user + system) the server has used, in seconds: a bound on the work a
        request cost, whatever else the machine runs."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def hwm_kib(self):
        """Peak RSS (VmHWM) of the server in KiB."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        raise AssertionError("no VmHWM")

    def send(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=60):
        return self.proc.wait(timeout=timeout)

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("sluice did not stop within %ss" % timeout)
        if self.own_root:
            shutil.rmtree(self.root, ignore_errors=True)
        self.log.close()
        try:
            os.unlink(self.log_path)
        except OSError:
            pass
        return self.proc.returncode

    def tmp_files(self):
        d = os.path.join(self.root, ".sluice", "tmp")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def final_files(self):
        out = []
        for dp, dn, fn in os.walk(self.root):
            rel = os.path.relpath(dp, self.root)
            if rel == ".sluice" or rel.startswith(".sluice/"):
                continue
            for f in fn:
                out.append(os.path.normpath(os.path.join(rel, f)))
        return sorted(out)


def curl(*args, data_file=None, timeout=120):
    """Run curl -s; returns (status, headers dict lower-case, body bytes)."""
    hdr = tempfile.NamedTemporaryFile(delete=False)
    hdr.close()
    cmd = ["curl", "-s", "-S", "--max-time", str(timeout), "-D", hdr.name, "-o", "-"] + list(args)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout + 10)
    with open(hdr.name, "rb") as f:
        raw = f.read().decode(errors="replace")
    os.unlink(hdr.name)
    blocks = [b for b in raw.split("\r\n\r\n") if b.strip()]
    status, headers = 0, {}
    if blocks:
        last = blocks[-1].split("\r\n")
        status = int(last[0].split()[1])
        for line in last[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
    return status, headers, p.stdout


def raw_request(port, data, timeout=10, read_all=True):
    """Send raw bytes to the server and return everything it answers until it closes or the
    timeout (or, with read_all False, the first complete response head + Content-Length body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        return read_response(s, timeout, read_all)
    finally:
        s.close()


def exchange(port, data, timeout=LIMIT):
    """One request on a new connection: the first complete answer (skipping 100 Continue; one
    without Content-Length, a 204 say, ends at its head), whatever the connection does after."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        return read_until_done(s, timeout)[0]
    finally:
        s.close()


def read_response(s, timeout=10, read_all=True):
    buf = b""
    deadline = time.time() + timeout
    s.settimeout(timeout)
    while time.time() < deadline:
        try:
            chunk = s.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not chunk:
            break
        buf += chunk
        if not read_all and b"\r\n\r\n" in buf:
            head, _, body = buf.partition(b"\r\n\r\n")
            m = re.search(rb"(?i)content-length:\s*(\d+)", head)
            if head.startswith(b"HTTP/1.1 100"):
                buf = body
                continue
            if m and len(body) >= int(m.group(1)):
                break
    return buf


def read_until_done(s, timeout):
    """Read until one complete final response (skipping 100 Continue; head plus its
    Content-Length body), the server closes, a reset, or the timeout. Returns (bytes, how) with how
    one of "response", "closed", "reset", "timeout"."""
    buf = b""
    deadline = time.time() + timeout
    while True:
        left = deadline - time.time()
        if left <= 0:
            return buf, "timeout"
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return buf, "timeout"
        except ConnectionError:
            return buf, "reset"
        if not chunk:
            return buf, "closed"
        buf += chunk
        if response_complete(buf):
            return buf, "response"


def response_complete(buf):
    """True once buf holds a final (non-100) response head and its whole Content-Length body."""
    while b"\r\n\r\n" in buf:
        head, _, rest = buf.partition(b"\r\n\r\n")
        if re.match(rb"HTTP/1\.[01] 100", head):
            buf = rest
            continue
        m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        return m is None or len(rest) >= int(m.group(1))
    return False


def status_of(resp):
    """Status code of the last response in raw bytes (skipping 100 Continue)."""
    codes = re.findall(rb"HTTP/1\.[01] (\d{3})", resp)
    codes = [int(c) for c in codes if c != b"100"]
    return codes[-1] if codes else 0


def json_body(resp):
    return json.loads(resp.split(b"\r\n\r\n", 1)[1].decode())


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


class ServerTest(unittest.TestCase):
    """A test case with one server per test (self.srv), stopped and checked afterwards."""

    server_args = ()

    def setUp(self):
        self.srv = Server(*self.server_args).start()

    def tearDown(self):
        out = self.srv.output()
        rc = self.srv.stop()
        self.assertEqual(rc, 0, "sluice exited %s: %s" % (rc, out))
        self.assertNotIn("AddressSanitizer", out)
        self.assertNotIn("runtime error", out)
