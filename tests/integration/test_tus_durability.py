"""Resumable uploads survive kill -9: checkpoints of a long PATCH, restart, resume.

A PATCH that is still streaming when the server is killed has had its progress recorded once a
second (fdatasync, then the record), so after a restart HEAD reports an offset that is no larger
than what was sent and no smaller than what was recorded before the kill, every byte before it
is the client's, and the client finishes from there. Nothing appears under a final name before
the upload completes. The tests wait for the records (ROOT/.sluice/tus/ID.info), not for time.
"""
import os
import shutil
import signal
import socket
import tempfile
import unittest

from harness import LIMIT, Server, exchange, status_of, tus_record, wait_until

MIB = 1 << 20


def tus_post(port, length, meta=b"filename Y2hlY2suYmlu"):
    resp = exchange(port, b"POST /uploads/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n"
                       b"Upload-Length: %d\r\nUpload-Metadata: %s\r\nContent-Length: 0\r\n\r\n"
                       % (length, meta))
    assert status_of(resp) == 201, resp
    for line in resp.split(b"\r\n"):
        if line.lower().startswith(b"location:"):
            return line.split(b":", 1)[1].strip().decode()
    raise AssertionError(resp)


def tus_head(port, loc):
    resp = exchange(port, b"HEAD %s HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n\r\n"
                       % loc.encode())
    headers = {}
    for line in resp.split(b"\r\n")[1:]:
        if b":" in line:
            k, v = line.split(b":", 1)
            headers[k.strip().lower().decode()] = v.strip().decode()
    return status_of(resp), headers


def patch_head(loc, offset, length):
    return (b"PATCH %s HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: %d\r\n"
            b"Content-Type: application/offset+octet-stream\r\nContent-Length: %d\r\n\r\n"
            % (loc.encode(), offset, length))


class TusKill9(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="sluice-tus-kill-")
        self.srv = Server(root=self.root).start()

    def tearDown(self):
        out = self.srv.output()
        self.srv.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        self.assertNotIn("AddressSanitizer", out)
        self.assertNotIn("runtime error", out)

    def test_long_patch_killed_resumes_from_a_checkpoint(self):
        total = 24 * MIB
        data = os.urandom(total)
        loc = tus_post(self.srv.port, total)
        uid = loc.rsplit("/", 1)[1]
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=LIMIT)
        s.sendall(patch_head(loc, 0, total))
        sent, recorded = 0, 0
        for _ in range(2):  # 5 MiB, a checkpoint of it, 5 MiB more, a later checkpoint
            s.sendall(data[sent:sent + 5 * MIB])
            sent += 5 * MIB
            recorded = wait_until(lambda: max(0, tus_record(self.root, uid)["offset"] - recorded),
                                  "a checkpoint of the open PATCH past %d" % recorded) + recorded
        # the PATCH is still open (14 MiB to go)
        self.srv.send(signal.SIGKILL)
        self.srv.wait(LIMIT)
        s.close()
        self.assertEqual(self.srv.final_files(), [], "a partial upload under a final name")

        self.srv = Server(root=self.root).start()
        status, h = tus_head(self.srv.port, loc)
        self.assertEqual(status, 200, h)
        offset = int(h["upload-offset"])
        self.assertGreaterEqual(offset, recorded, "a checkpoint recorded before the kill was lost")
        self.assertLessEqual(offset, sent)
        data_file = os.path.join(self.root, ".sluice", "tus", loc.rsplit("/", 1)[1] + ".data")
        with open(data_file, "rb") as f:
            self.assertEqual(f.read(offset), data[:offset], "bytes before the offset differ")

        rest = data[offset:]
        resp = exchange(self.srv.port, patch_head(loc, offset, len(rest)) + rest, timeout=2 * LIMIT)
        self.assertEqual(status_of(resp), 204, resp)
        self.assertIn(b"Sluice-File: /files/check.bin", resp)
        with open(os.path.join(self.root, "check.bin"), "rb") as f:
            self.assertEqual(f.read(), data)
        self.assertEqual(os.listdir(os.path.join(self.root, ".sluice", "tmp")), [])

    def test_interrupted_patch_keeps_its_bytes_and_a_stale_offset_is_409(self):
        total = 4 * MIB
        data = os.urandom(total)
        loc = tus_post(self.srv.port, total)
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=LIMIT)
        s.sendall(patch_head(loc, 0, total) + data[:MIB])
        wait_until(lambda: self.srv.metric("sluice_received_bytes_total") == MIB,
                   "the server to have the first MiB")
        s.close()  # the client went away one MiB in
        wait_until(lambda: tus_head(self.srv.port, loc)[1].get("upload-offset") == str(MIB),
                   "HEAD to report the MiB that arrived")
        resp = exchange(self.srv.port, patch_head(loc, 0, 10) + b"x" * 10)
        self.assertEqual(status_of(resp), 409, resp)
        self.assertIn(b"Upload-Offset: %d" % MIB, resp)
        resp = exchange(self.srv.port, patch_head(loc, MIB, total - MIB) + data[MIB:],
                        timeout=2 * LIMIT)
        self.assertEqual(status_of(resp), 204, resp)
        with open(os.path.join(self.root, "check.bin"), "rb") as f:
            self.assertEqual(f.read(), data)


if __name__ == "__main__":
    unittest.main()
