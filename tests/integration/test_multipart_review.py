"""Forms: cases found in review. Digest fields are checked on forms too; a file name under a long
?name= stays a name GET can reach; a staging directory left by an earlier process that had the
same pid is swept, never published."""
import base64
import hashlib
import http.client
import json
import os
import subprocess
import tempfile
import unittest

from harness import BIN, curl, popen_logged, wait_until
from test_multipart import CTYPE, MultipartTest, form, fpart


def b64(b):
    return base64.b64encode(b).decode()


class Review(MultipartTest):
    def test_digest_fields_are_verified_on_forms(self):
        body = form([fpart(b"f", b"a.txt", b"hello")])
        good = "sha-256=:%s:" % b64(hashlib.sha256(body).digest())
        bad = "sha-256=:%s:" % b64(hashlib.sha256(b"wrong").digest())
        for field in ("Content-Digest", "Repr-Digest"):
            with self.subTest(field=field):
                st, _, out = self.post(body, headers={field: bad})
                self.assertEqual(st, 400, out)
                j = json.loads(out)
                self.assertEqual(j["code"], "SL_ECHECKSUM")
                self.assertEqual(j["field"], field)
                st, _, out = self.post(body, headers={field: good})
                self.assertEqual(st, 201, out)
        self.assertEqual(len(self.srv.tmp_files()), 0)

    def test_file_names_under_a_long_name_stay_reachable(self):
        long = "/".join(["d" * 250] * 4)  # 1003 bytes
        body = form([fpart(b"f", b"f" * 200, b"payload")])
        st, _, out = self.post(body, query="?name=" + long)
        self.assertEqual(st, 201, out)
        name = json.loads(out)["files"][0]["name"]
        self.assertLessEqual(len(name.encode()), 1024)
        st, _, got = curl(self.srv.url + "/files/" + name)
        self.assertEqual((st, got), (200, b"payload"))
        longer = "/".join(["d" * 250] * 4) + "/" + "e" * 15  # no room for any file name
        st, _, out = self.post(body, query="?name=" + longer)
        self.assertEqual(st, 414, out)


class StaleStage(unittest.TestCase):
    def test_a_stale_stage_with_our_pid_is_swept_not_published(self):
        root = tempfile.mkdtemp(prefix="sluice-stale-")
        # exec keeps the shell's pid: the leftovers carry the server's own pid, another boot id.
        script = ('mkdir -p "$1/.sluice/stage/$$-zzzzzzzz-1" "$1/.sluice/tmp" && '
                  'echo stale > "$1/.sluice/stage/$$-zzzzzzzz-1/secret.txt" && '
                  'echo partial > "$1/.sluice/tmp/$$-zzzzzzzz-1.part" && '
                  'exec "$2" --listen 127.0.0.1:0 --root "$1"')
        log = open(os.path.join(root, "..", os.path.basename(root) + ".log"), "w+b")
        p = popen_logged(["sh", "-c", script, "sh", root, BIN], log)
        try:
            def listening():
                log.seek(0)
                text = log.read().decode()
                return "listening on" in text and text
            text = wait_until(listening, "sluice to start")
            port = int(text.split("127.0.0.1:")[1].split()[0])
            self.assertIn("swept=1", text)
            self.assertEqual(os.listdir(os.path.join(root, ".sluice", "tmp")), [])
            self.assertEqual(os.listdir(os.path.join(root, ".sluice", "stage")), [])
            body = form([fpart(b"f", b"new.txt", b"new")])
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("POST", "/files/?name=batch", body=body, headers={"Content-Type": CTYPE})
            r = c.getresponse()
            self.assertEqual(r.status, 201, r.read())
            c.close()
            self.assertEqual(sorted(os.listdir(os.path.join(root, "batch"))), ["new.txt"])
        finally:
            p.terminate()
            p.wait(timeout=30)
            log.close()
            subprocess.run(["rm", "-rf", root, log.name])


if __name__ == "__main__":
    unittest.main()
