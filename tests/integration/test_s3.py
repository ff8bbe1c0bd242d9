"""The S3 store (issue 14) against a real Ceph cluster: tests/s3/ceph.sh brings up a monitor,
one OSD and radosgw on 127.0.0.1 for this module and stops them after it.

Each test runs sluice with --store s3://sluice/<its own prefix> and checks the bucket itself
(signed with curl --aws-sigv4, not through sluice): what an upload leaves in the store, and that a
failed or aborted one leaves neither an object nor a multipart upload.

  small bodies: one PUT, GET/HEAD with ETag, Repr-Digest and Range, list, DELETE, create-only
  large bodies: a multipart upload (16 MiB parts) completed only at the end, byte-identical
  chunked and gzip bodies, raw POST
  a digest mismatch and a client cut off mid-body: no object, no multipart upload left
  the service unreachable (a proxy in front of it closed): 503 with the JSON error body, and
    /healthz 503 for the load balancer
  wrong credentials: sluice refuses to start with a clear message
  radosgw restarted mid-upload: whole, or nothing visible and no multipart upload left
  GET streams from the store (sluice_store_read_bytes_total counts what came from it): a Range
    costs exactly its bytes, the first MiB of 256 MiB arrives long before the object could have
    been read whole, a client that stops reading stops the store's transfer (the counter and
    sluice's RSS stay put) and then gets the whole object byte-identical, a GET whose connection
    to the store is cut is resumed from where it stopped, and a store that fails mid-body cuts
    the connection short of Content-Length (never a complete-looking short 200)

Run: SLUICE_BIN=build/sluice python3 tests/integration/test_s3.py -v
"""
import base64
import gzip
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LIMIT, TOP, Server, ServerTest, curl, read_response, status_of,  # noqa: E402
                     wait_until)
from s3lab import (LAB, MIB, PART, Proxy, keys, multipart_uploads, restart_rgw, s3,  # noqa: E402,F401
                   setUpModule, tearDownModule)

def sha256_etag(data):
    return '"%s"' % hashlib.sha256(data).hexdigest()


class S3Base(ServerTest):
    """A sluice on its own prefix of the bucket, and a spool directory left empty."""

    def setUp(self):
        self.prefix = "t-" + self._testMethodName.replace("_", "-")
        self.spool = tempfile.mkdtemp(prefix="sluice-spool-")
        self.env = {k: LAB[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
        self.srv = self.server(getattr(self, "endpoint", LAB["S3_ENDPOINT"]), *self.extra)

    extra = ()  # more arguments for every server of the class

    def server(self, endpoint, *extra):
        os.environ.update(self.env)
        return Server("--store", "s3://%s/%s" % (LAB["S3_BUCKET"], self.prefix), "--s3-endpoint",
                      endpoint, "--spool", self.spool, *PART, *extra).start()

    def tearDown(self):
        super().tearDown()
        self.assertEqual(os.listdir(self.spool), [], "spool files are unlinked")
        shutil.rmtree(self.spool, ignore_errors=True)

    def url(self, name=""):
        return "http://127.0.0.1:%d/files/%s" % (self.srv.port, name)

    def put(self, name, data, *headers):
        with tempfile.NamedTemporaryFile() as f:
            f.write(data)
            f.flush()
            args = ["-T", f.name]
            for h in headers:
                args += ["-H", h]
            return curl(*args, self.url(name))

    def assert_nothing_left(self):
        self.assertEqual(keys(self.prefix + "/"), [])
        wait_until(lambda: multipart_uploads(self.prefix + "/") == [], "no multipart upload left")


class S3Test(S3Base):
    def test_small_put_get_head_range_list_delete(self):
        data = os.urandom(100_000)
        st, h, b = self.put("dir/a.bin", data)
        self.assertEqual(st, 201, b)
        self.assertEqual(json.loads(b)["sha256"], hashlib.sha256(data).hexdigest())
        self.assertEqual(keys(self.prefix + "/"), [self.prefix + "/dir/a.bin"])
        self.assertEqual(multipart_uploads(self.prefix + "/"), [], "a small body is one PUT")
        st, h, b = curl(self.url("dir/a.bin"))
        self.assertEqual((st, b), (200, data))
        self.assertEqual(h["etag"], sha256_etag(data))
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        self.assertEqual(h["repr-digest"], "sha-256=:%s:" % digest)
        st, h, b = curl("-I", self.url("dir/a.bin"))
        self.assertEqual((st, h["content-length"]), (200, str(len(data))))
        st, h, b = curl("-r", "10-19", self.url("dir/a.bin"))
        self.assertEqual((st, b, h["content-range"]), (206, data[10:20], "bytes 10-19/100000"))
        st, h, b = curl("-H", "If-None-Match: " + sha256_etag(data), self.url("dir/a.bin"))
        self.assertEqual(st, 304)
        st, h, b = curl(self.url())
        files = json.loads(b)["files"]
        self.assertEqual([(f["name"], f["size"]) for f in files], [("dir/a.bin", 100_000)])
        self.assertGreater(files[0]["mtime"], 1_600_000_000)
        self.assertEqual(curl("-X", "DELETE", self.url("dir/a.bin"))[0], 204)
        self.assertEqual(curl("-X", "DELETE", self.url("dir/a.bin"))[0], 404)
        self.assertEqual(curl(self.url("dir/a.bin"))[0], 404)
        self.assert_nothing_left()

    def test_empty_body_and_create_only(self):
        st, _, b = self.put("empty", b"", "If-None-Match: *")
        self.assertEqual(st, 201, b)
        self.assertEqual(curl(self.url("empty"))[:3:2], (200, b""))
        st, _, b = self.put("empty", b"x", "If-None-Match: *")
        self.assertEqual(st, 412, b)
        self.assertEqual(curl(self.url("empty"))[2], b"")

    def test_large_put_is_multipart_and_identical(self):
        data = os.urandom(37 * MIB)  # three parts of 16 MiB
        st, h, b = self.put("big.bin", data)
        self.assertEqual(st, 201, b)
        self.assertEqual(h["etag"], sha256_etag(data))
        st, h, b = curl(self.url("big.bin"))
        self.assertEqual(st, 200)
        self.assertTrue(b == data, "bytes differ")
        self.assertEqual(h["etag"], sha256_etag(data), "the digest went into the metadata")
        st, s3h = s3("HEAD", "/%s/big.bin" % self.prefix, "-I")
        self.assertEqual(st, 200)
        self.assertEqual(multipart_uploads(self.prefix + "/"), [])

    def test_chunked_gzip_and_raw_post(self):
        data = os.urandom(17 * MIB) + b"z" * (3 * MIB)
        with tempfile.NamedTemporaryFile() as f:
            f.write(gzip.compress(data, 1))
            f.flush()
            st, h, b = curl("--data-binary", "@" + f.name, "-X", "PUT", "-H",
                            "Transfer-Encoding: chunked", "-H", "Content-Encoding: gzip",
                            self.url("gz.bin"))
        self.assertEqual(st, 201, b)
        self.assertTrue(curl(self.url("gz.bin"))[2] == data)
        st, h, b = curl("--data-binary", "raw bytes", "-H", "Content-Type: application/octet-stream",
                        self.url())
        self.assertEqual(st, 201, b)
        name = json.loads(b)["name"]
        self.assertEqual(curl(self.url(name))[2], b"raw bytes")

    def test_form_all_or_nothing(self):
        small, big = os.urandom(50_000), os.urandom(20 * MIB)
        with tempfile.TemporaryDirectory() as d:
            for n, data in (("s.bin", small), ("b.bin", big)):
                with open(os.path.join(d, n), "wb") as f:
                    f.write(data)
            form = ["-F", "one=@%s/s.bin" % d, "-F", "two=@%s/b.bin" % d, "-F", "note=hi"]
            st, h, b = curl(*form, self.url() + "?name=g")
            self.assertEqual(st, 201, b)
            self.assertEqual(curl(self.url("g/s.bin"))[2], small)
            st, h, b2 = curl(self.url("g/b.bin"))
            self.assertTrue(b2 == big)
            self.assertEqual(h["etag"], sha256_etag(big))
            self.assertEqual(curl(*form, self.url() + "?name=g")[0], 409)
            # the second file is past --max-size: neither file appears, nothing staged is left
            self.srv.stop()
            self.srv = self.server(LAB["S3_ENDPOINT"], "--max-size", "1M")
            st, h, b = curl(*form, self.url() + "?name=h")
            self.assertEqual(st, 413, b)
        wait_until(lambda: keys(self.prefix + "/.sluice/") == [],
                   lambda: "the stage removed: %r" % keys(self.prefix + "/.sluice/"))
        self.assertEqual(keys(self.prefix + "/"), [self.prefix + "/g/b.bin",
                                                   self.prefix + "/g/s.bin"])
        wait_until(lambda: multipart_uploads(self.prefix + "/") == [], "no multipart upload left")

    def test_large_body_spliced_into_the_spool_with_its_digest(self):
        """A fast body with the default SHA-256 is spliced socket -> pipe -> spool file and hashed
        behind the sink (read back from the spool): the object and its digest are the body's."""
        data = os.urandom(40 * MIB)
        s0 = self.srv.metric("sluice_spliced_bytes_total")
        st, h, b = self.put("spliced.bin", data)
        self.assertEqual(st, 201, b)
        self.assertEqual(json.loads(b)["sha256"], hashlib.sha256(data).hexdigest())
        self.assertGreater(self.srv.metric("sluice_spliced_bytes_total") - s0, len(data) // 2)
        st, h, body = curl(self.url("spliced.bin"))
        self.assertTrue(st == 200 and body == data, "bytes differ")
        self.assertEqual(h["repr-digest"], "sha-256=:%s:" % base64.b64encode(
            hashlib.sha256(data).digest()).decode())
        self.assertEqual(multipart_uploads(self.prefix + "/"), [])

    def test_digest_mismatch_leaves_nothing(self):
        data = os.urandom(33 * MIB)  # parts sent before the mismatch is known (spliced, hashed
        wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()  # behind the sink)
        s0 = self.srv.metric("sluice_spliced_bytes_total")
        st, h, b = self.put("bad.bin", data, "Repr-Digest: sha-256=:%s:" % wrong)
        self.assertEqual(st, 400, b)
        self.assertEqual(json.loads(b)["actual"], base64.b64encode(
            hashlib.sha256(data).digest()).decode())
        self.assertGreater(self.srv.metric("sluice_spliced_bytes_total") - s0, len(data) // 2)
        self.assertEqual(curl(self.url("bad.bin"))[0], 404)
        self.assert_nothing_left()

    def test_client_cut_off_mid_body_leaves_nothing(self):
        s = socket.create_connection(("127.0.0.1", self.srv.port))
        s.sendall(b"PUT /files/cut.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (64 * MIB))
        chunk = os.urandom(MIB)
        for _ in range(40):  # two parts sent to the store, a third spooling
            s.sendall(chunk)
        wait_until(lambda: len(multipart_uploads(self.prefix + "/")) == 1, "a multipart upload")
        s.close()
        self.assert_nothing_left()
        self.assertEqual(curl(self.url("cut.bin"))[0], 404)

    def test_radosgw_restarted_mid_upload(self):
        """The upload either resumes and is whole, or fails with nothing visible and its
        multipart upload aborted (once the service is back). Here it fails: the part in flight
        breaks, sluice answers 503 and closes, and the client, still sending, sees a reset."""
        data = os.urandom(64 * MIB)
        s = socket.create_connection(("127.0.0.1", self.srv.port))
        s.sendall(b"PUT /files/r.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(data))
        s.sendall(data[:36 * MIB])
        wait_until(lambda: len(multipart_uploads(self.prefix + "/")) == 1, "a multipart upload")
        restart_rgw()

        def rest():
            try:
                s.sendall(data[36 * MIB:])
            except OSError:
                pass  # sluice answered already and closed
        sender = threading.Thread(target=rest)
        sender.start()
        resp = read_response(s, timeout=LIMIT)
        try:
            s.shutdown(socket.SHUT_RDWR)  # the sender stops
        except OSError:
            pass  # the server closed it already
        sender.join(LIMIT)
        s.close()
        st = status_of(resp) if resp else 0
        self.assertIn(st, (201, 503, 0), resp[:300])
        sys.stderr.write("(the upload across the restart answered %s) " % (st or "nothing"))
        if st == 201:
            self.assertTrue(curl(self.url("r.bin"))[2] == data, "bytes differ")
        else:
            self.assertEqual(curl(self.url("r.bin"))[0], 404, "nothing half-visible")
        self.assertEqual(keys(self.prefix + "/"), [self.prefix + "/r.bin"] if st == 201 else [])
        wait_until(lambda: multipart_uploads(self.prefix + "/") == [], "no multipart upload left")
        st, h, b = self.put("after.bin", b"the store is back")  # and sluice with it
        self.assertEqual(st, 201, b)

    def test_store_unreachable_is_503(self):
        proxy = Proxy(LAB["S3_ENDPOINT"])
        srv = self.server(proxy.url)
        try:
            base = "http://127.0.0.1:%d/files/" % srv.port
            health = "http://127.0.0.1:%d/healthz" % srv.port
            self.assertEqual(curl("--data-binary", "ok", "-X", "PUT", base + "up")[0], 201)
            self.assertEqual(curl(health)[0], 200)
            self.assertEqual(srv.metric("sluice_store_up"), 1)
            proxy.close()
            for args in (["--data-binary", "x" * 1000, "-X", "PUT", base + "down"], [base + "up"],
                         [base], ["-X", "DELETE", base + "up"]):
                st, h, b = curl(*args)
                self.assertEqual(st, 503, (args, b))
                self.assertEqual(json.loads(b)["code"], "SL_EUNAVAILABLE")
            st, h, b = curl(health)
            self.assertEqual((st, json.loads(b)["status"]), (503, "store unreachable"))
            self.assertEqual(srv.metric("sluice_store_up"), 0)
            self.assertEqual(srv.proc.poll(), None, "still running")
        finally:
            proxy.close()
            self.assertEqual(srv.stop(), 0)
        self.assertEqual(keys(self.prefix + "/"), [self.prefix + "/up"])

    def test_wrong_credentials_refused_at_start(self):
        os.environ["AWS_SECRET_ACCESS_KEY"] = "wrong" + LAB["AWS_SECRET_ACCESS_KEY"]
        try:
            p = subprocess.run([os.environ.get("SLUICE_BIN", os.path.join(TOP, "build", "sluice")),
                                "--listen", "127.0.0.1:0", "--store", "s3://sluice/x",
                                "--s3-endpoint", LAB["S3_ENDPOINT"], "--spool", self.spool],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=LIMIT)
        finally:
            os.environ["AWS_SECRET_ACCESS_KEY"] = LAB["AWS_SECRET_ACCESS_KEY"]
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"access denied", p.stdout)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(next(line for line in f if line.startswith("VmRSS")).split()[1])


def get_head(s, path, rcvbuf=1 << 16):
    """Send GET path on the socket s and read up to the end of the answer's header: (status,
    headers dict, the body bytes read with it)."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(LIMIT)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError("closed before the header: %r" % buf)
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    fields = dict((k.strip().lower(), v.strip()) for k, _, v in
                  (line.partition(":") for line in lines[1:]))
    return int(lines[0].split()[1]), fields, body


def read_body(s, body, want, sha=None):
    """Read until `want` body bytes (body: those read already) or the end: (count, how) with how
    "whole", "closed" or "reset"; sha (a hashlib object) gets the bytes."""
    n = len(body)
    if sha is not None:
        sha.update(body)
    while n < want:
        try:
            chunk = s.recv(1 << 20)
        except ConnectionResetError:
            return n, "reset"
        if not chunk:
            return n, "closed"
        n += len(chunk)
        if sha is not None:
            sha.update(chunk)
    return n, "whole"


class S3GetTest(S3Base):
    """GET /files/<name> on the S3 store streams the object: only what is asked is read."""

    def store_read(self, srv=None):
        return (srv or self.srv).metric("sluice_store_read_bytes_total")

    def test_range_reads_only_those_bytes(self):
        data = os.urandom(40 * MIB)
        self.assertEqual(self.put("r.bin", data)[0], 201)
        m = self.store_read()
        for rng, part in (("0-0", data[:1]), ("20000000-20999999", data[20000000:21000000]),
                          ("-1", data[-1:]), ("%d-" % (len(data) - 5), data[-5:])):
            st, h, b = curl("-r", rng, self.url("r.bin"))
            self.assertEqual(st, 206, rng)
            self.assertTrue(b == part, "the bytes of %s" % rng)
            self.assertEqual(h["content-length"], str(len(part)))
            self.assertEqual(self.store_read() - m, len(part),
                             "only the bytes of %s came from the store" % rng)
            m += len(part)
        self.assertEqual(h["etag"], sha256_etag(data))
        st, h, b = curl("-r", "0-0", "-H", "If-Range: " + sha256_etag(data), self.url("r.bin"))
        self.assertEqual((st, b), (206, data[:1]))
        for args in (["-I"], ["-H", "If-None-Match: " + sha256_etag(data)],
                     ["-r", "%d-" % len(data)]):  # HEAD, 304, 416: nothing read
            st, h, b = curl(*args, self.url("r.bin"))
            self.assertIn(st, (200, 304, 416), args)
        self.assertEqual(self.store_read() - m, 1)

    def test_whole_get_streams_with_backpressure(self):
        data = os.urandom(256 * MIB)
        self.assertEqual(self.put("big.bin", data)[0], 201)
        want = hashlib.sha256(data).hexdigest()
        del data
        pid = self.srv.proc.pid
        m0, rss0 = self.store_read(), rss_kib(pid)
        s = socket.create_connection(("127.0.0.1", self.srv.port))
        try:
            st, h, body = get_head(s, "/files/big.bin")
            self.assertEqual((st, h["content-length"]), (200, str(256 * MIB)))
            sha = hashlib.sha256()
            n, how = read_body(s, body, MIB, sha)
            # the first MiB is here: the object was not read whole before it (socket buffers
            # between sluice and this client hold a few MiB)
            first = self.store_read() - m0
            self.assertLess(first, 32 * MIB, "store bytes read before the first MiB arrived")
            # the client stops reading: the store's transfer stops too, memory stays put
            # settled: the transfer's pieces in flight have arrived (the count unchanged for 1 s
            # of polling: a slow radosgw may pause a shorter while mid-piece)
            last = [self.store_read(), time.time()]

            def settled():
                now = self.store_read()
                if now != last[0]:
                    last[:] = [now, time.time()]
                return time.time() - last[1] >= 1
            wait_until(settled, "the store reads to stop while the client pauses", interval=0.1)
            m1 = self.store_read()
            time.sleep(2)  # the pause observed: a paused transfer reads nothing in it
            paused = self.store_read() - m1
            grown = rss_kib(pid) - rss0
            sys.stderr.write("(first MiB after %.1f MiB from the store; %d bytes while paused; "
                             "RSS +%d KiB) " % (first / MIB, paused, grown))
            self.assertLess(paused, MIB, "the store kept sending to a client that does not read")
            self.assertLess(m1 - m0, 48 * MIB)
            self.assertLess(grown, 48 * 1024, "RSS grew while a client did not read")
            n, how = read_body(s, b"", 256 * MIB - n, sha)
            self.assertEqual(how, "whole")
            self.assertEqual(sha.hexdigest(), want, "bytes differ")
        finally:
            s.close()
        self.assertEqual(self.store_read() - m0, 256 * MIB, "each byte read from the store once")

    def get_through_proxy(self, size, at_1mib):
        """A file of `size` bytes stored by a sluice that reaches the store through a Proxy, then
        read back: at_1mib(proxy) once the first MiB arrived, then the rest. Returns (the bytes
        stored, the answer's body as read: count and how it ended, its SHA-256, the store bytes
        read meanwhile)."""
        proxy = Proxy(LAB["S3_ENDPOINT"])
        srv = self.server(proxy.url)
        try:
            data = os.urandom(size)
            with tempfile.NamedTemporaryFile() as f:
                f.write(data)
                f.flush()
                st, h, b = curl("-T", f.name, "http://127.0.0.1:%d/files/cut.bin" % srv.port)
            self.assertEqual(st, 201, b)
            m0 = self.store_read(srv)
            with socket.create_connection(("127.0.0.1", srv.port)) as s:
                st, h, body = get_head(s, "/files/cut.bin")
                self.assertEqual((st, h["content-length"]), (200, str(size)))
                sha = hashlib.sha256()
                first, how = read_body(s, body, MIB, sha)
                at_1mib(proxy)
                n, how = read_body(s, b"", size - first, sha)
            self.assertEqual(srv.proc.poll(), None, "still running")
            return data, first + n, how, sha.hexdigest(), self.store_read(srv) - m0
        finally:
            proxy.close()
            self.assertEqual(srv.stop(), 0)

    def test_store_connection_cut_mid_body_is_resumed(self):
        """The service drops the connection of a GET (an idle timeout while the client paused, a
        restart): sluice asks again for the rest (Range from where it stopped, If-Match the same
        ETag) and the client gets the whole file without noticing."""
        data, n, how, sha, read = self.get_through_proxy(48 * MIB, Proxy.cut)
        self.assertEqual(how, "whole")
        self.assertEqual(sha, hashlib.sha256(data).hexdigest(), "bytes differ")
        self.assertEqual(read, len(data), "no byte read twice")

    def test_store_failing_mid_body_cuts_the_connection(self):
        data, n, how, sha, read = self.get_through_proxy(64 * MIB, Proxy.close)
        self.assertIn(how, ("closed", "reset"), "the connection is cut, not finished")
        self.assertLess(n, len(data))


if __name__ == "__main__":
    unittest.main()
