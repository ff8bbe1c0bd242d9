"""The one-node Ceph cluster the S3 tests run against (tests/s3/ceph.sh), and a signed client
straight to its bucket. A test module imports setUpModule and tearDownModule from here: the
cluster is up for that module only.
"""
import os
import re
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.parse

from harness import TOP

CEPH_SH = os.path.join(TOP, "tests", "s3", "ceph.sh")
LAB = {}
MIB = 1 << 20
# The tests' sizes are counted in parts of 16 MiB (three parts, a tail under one part…): every
# sluice they start on the store gets this, whatever the default (64 MiB).
PART = ("--s3-part-size", "16M")


def free_port():
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if not 6800 <= port <= 7300:  # the OSD's range
            return port


def setUpModule():
    d = tempfile.mkdtemp(prefix="sluice-ceph-")
    os.rmdir(d)
    env = dict(os.environ, CEPH_PORT=str(free_port()), CEPH_MON_PORT=str(free_port()))
    p = subprocess.run([CEPH_SH, "up", d], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=300)
    LAB["dir"] = d
    LAB["env"] = env
    if p.returncode != 0:
        raise AssertionError("ceph.sh up failed: " + p.stderr.decode(errors="replace"))
    for m in re.finditer(r"export (\w+)=(\S+)", p.stdout.decode()):
        LAB[m.group(1)] = m.group(2)


def restart_rgw():
    """Stop radosgw and start it again (ceph.sh restart-rgw): the store goes away and comes back."""
    p = subprocess.run([CEPH_SH, "restart-rgw", LAB["dir"]], env=LAB["env"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    assert p.returncode == 0, p.stderr.decode(errors="replace")


def tearDownModule():
    if "dir" in LAB:
        subprocess.run([CEPH_SH, "down", LAB["dir"]], timeout=120)


def s3(method, path, *args):
    """A signed request straight to the bucket: (status, body)."""
    cmd = ["curl", "-s", "--max-time", "60", "-X", method, "-o", "-", "-w", "\n%{http_code}",
           "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "--aws-sigv4", "aws:amz:us-east-1:s3",
           "--user", LAB["AWS_ACCESS_KEY_ID"] + ":" + LAB["AWS_SECRET_ACCESS_KEY"],
           LAB["S3_ENDPOINT"] + "/" + LAB["S3_BUCKET"] + path] + list(args)
    out = subprocess.run(cmd, stdout=subprocess.PIPE, timeout=90).stdout
    body, _, code = out.rpartition(b"\n")
    return int(code), body


def keys(prefix):
    st, body = s3("GET", "?list-type=2&prefix=" + urllib.parse.quote(prefix, safe=""))
    assert st == 200, body
    return sorted(re.findall(r"<Key>([^<]*)</Key>", body.decode()))


def multipart_uploads(prefix):
    st, body = s3("GET", "?prefix=" + urllib.parse.quote(prefix, safe="") + "&uploads=")
    assert st == 200, body
    return re.findall(r"<UploadId>([^<]*)</UploadId>", body.decode())






def s3_error(status, code):
    """An S3 error answer that closes its connection."""
    xml = b'<?xml version="1.0"?><Error><Code>%s</Code></Error>' % code
    return (b"HTTP/1.1 %s\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (status, len(xml), xml))


FAKE = {"503": s3_error(b"503 Slow Down", b"SlowDown"),
        "404": s3_error(b"404 Not Found", b"NoSuchUpload")}


class Proxy:
    """A TCP relay to the S3 endpoint that can be closed (then nothing answers on its port), cut
    (its connections dropped), or made to fail requests: fail(n, how, match) makes the next n
    requests whose request line matches the regular expression `match` (n < 0: all of them)
    fail, each before it reaches the service: "503" answers RGW's SlowDown and closes, "404"
    answers NoSuchUpload, "reset" resets the connection; "lost" sends the request on, waits for
    the service to act on it and resets the connection before its answer (the answer is lost, the
    request was done); "delay" holds the request for 1.5 s, then sends it on. `how` may also be a list: the i-th request matched fails how[i].
    `faulted` counts the requests failed."""

    def __init__(self, target):
        host, port = target.split("//")[1].split(":")
        self.target = (host, int(port))
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.url = "http://127.0.0.1:%d" % self.ls.getsockname()[1]
        self.conns = []
        self.closed = False
        self.lock = threading.Lock()
        self.faults, self.how, self.match, self.faulted = 0, None, None, 0
        threading.Thread(target=self.accept, daemon=True).start()

    def fail(self, n, how="503", match=rb""):
        with self.lock:
            self.faults, self.how, self.match, self.faulted = n, how, re.compile(match), 0
        if n != 0:  # kept-alive connections would carry requests past the check: new ones
            self.cut()

    def take_fault(self, line):
        with self.lock:
            if self.faults == 0 or not self.match.search(line):
                return None
            self.faults -= 1 if self.faults > 0 else 0
            self.faulted += 1
            return self.how if isinstance(self.how, str) else self.how[self.faulted - 1]

    def accept(self):
        while not self.closed:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(self.target)
            except OSError:
                c.close()
                continue
            self.conns += [c, u]
            drop = []  # not empty: the service's answer on this connection is dropped ("lost")
            threading.Thread(target=self.requests, args=(c, u, drop), daemon=True).start()
            threading.Thread(target=self.pump, args=(u, c, drop), daemon=True).start()

    @staticmethod
    def reset(*socks):
        for s in socks:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            except OSError:
                pass

    def requests(self, c, u, drop):
        """Client to service, one request at a time (curl sends one, waits for its answer)."""
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        raise EOFError
                    buf += d
                head, _, buf = buf.partition(b"\r\n\r\n")
                head += b"\r\n\r\n"
                m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                left = int(m.group(1)) if m else 0
                expect = re.search(rb"(?im)^expect:\s*100-continue", head) is not None
                how = self.take_fault(head.split(b"\r\n", 1)[0])
                if how == "reset":
                    return self.reset(c, u)
                if how in FAKE:
                    while left > 0 and not expect:  # the body, read so the answer is not lost
                        take = buf[:left] or c.recv(min(65536, left))
                        if not take:
                            break
                        buf, left = buf[len(take):] if buf else buf, left - len(take)
                    c.sendall(FAKE[how])
                    c.shutdown(socket.SHUT_WR)
                    time.sleep(0.2)
                    return self.reset(c, u)
                if how == "lost":
                    drop.append(1)
                if how == "delay":
                    time.sleep(1.5)
                u.sendall(head)
                while left > 0:
                    take = buf[:left] or c.recv(min(65536, left))
                    if not take:
                        raise EOFError
                    u.sendall(take)
                    buf, left = buf[len(take):] if buf else buf, left - len(take)
                if how == "lost":
                    time.sleep(1)  # the service has acted on it; its answer never arrives
                    return self.reset(c, u)
        except (OSError, EOFError):
            pass
        for s in (c, u):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def pump(self, a, b, drop=()):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                if not drop:
                    b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        """Close the connections relayed now; new ones are still relayed."""
        conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.closed = True
        for s in [self.ls] + self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
