"""The upload page over real sockets (server/http/ui.c): the build tree's page by default, the
installed one under any prefix (cmake --install), --ui-dir, --no-ui, the headers, and paths that
must not leave the page's directory, sent raw (no client normalises them). The page itself, in a
browser, is tests/browser/test_page.mjs."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import harness
from harness import Server, exchange, status_of

BUILD = os.path.dirname(harness.BIN)


def get(port, path, extra=b""):
    resp = exchange(port, b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n"
                    % (path.encode(), extra))
    head, _, body = resp.partition(b"\r\n\r\n")
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.decode().partition(":")
        headers[k.strip().lower()] = v.strip()
    return status_of(resp), headers, body


class BuildTreePage(harness.ServerTest):
    def test_index_and_assets(self):
        st, h, body = get(self.srv.port, "/")
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "text/html; charset=utf-8")
        self.assertEqual(h["cache-control"], "no-cache")
        self.assertIn("script-src 'self'", h["content-security-policy"])
        self.assertNotIn("unsafe", h["content-security-policy"])
        self.assertEqual(h["x-content-type-options"], "nosniff")
        assets = re.findall(rb'"ui/([^"]+)"', body)
        self.assertEqual(len(assets), 2, body)
        for a in assets:
            st, ha, b = get(self.srv.port, "/ui/" + a.decode())
            self.assertEqual(st, 200)
            self.assertEqual(ha["cache-control"], "public, max-age=31536000, immutable")
            self.assertIn(ha["content-type"], ("text/javascript; charset=utf-8", "text/css; charset=utf-8"))
            self.assertNotIn(b"//cdn", b)  # bundled: nothing fetched from elsewhere
        st, _, _ = get(self.srv.port, "/", b'If-None-Match: %s\r\n' % h["etag"].encode())
        self.assertEqual(st, 304)

    def test_paths_never_leave_the_directory(self):
        for path in ("/ui/../index.html", "/ui/%2e%2e/index.html", "/ui/..%2f..%2fetc%2fpasswd",
                     "/ui/../../../../etc/passwd", "/ui/.%2E/CMakeCache.txt", "/ui//etc/passwd",
                     "/ui/", "/ui/index.html%00.js", "/../ui/index.html", "/%2e%2e/etc/passwd"):
            with self.subTest(path=path):
                st, _, body = get(self.srv.port, path)
                self.assertIn(st, (400, 404), body)
                self.assertNotIn(b"root:", body)
                self.assertNotIn(b"CMAKE", body)


class Options(unittest.TestCase):
    def run_server(self, *args):
        srv = Server(*args).start()
        self.addCleanup(srv.stop)
        return srv

    def test_no_ui(self):
        srv = self.run_server("--no-ui")
        self.assertEqual(get(srv.port, "/")[0], 404)
        self.assertEqual(get(srv.port, "/files/")[0], 200)

    def test_ui_dir(self):
        d = tempfile.mkdtemp(prefix="sluice-ui-")
        self.addCleanup(shutil.rmtree, d, True)
        with open(os.path.join(d, "index.html"), "w") as f:
            f.write("<!doctype html><title>mine</title>")
        srv = self.run_server("--ui-dir", d)
        st, _, body = get(srv.port, "/")
        self.assertEqual((st, body), (200, b"<!doctype html><title>mine</title>"))

    def test_ui_dir_without_a_page_warns_and_serves_no_page(self):
        d = tempfile.mkdtemp(prefix="sluice-ui-")
        self.addCleanup(shutil.rmtree, d, True)
        srv = self.run_server("--ui-dir", d)
        self.assertEqual(get(srv.port, "/")[0], 404)
        self.assertIn("no upload page", srv.output())


@unittest.skipUnless(shutil.which("cmake") and os.path.exists(os.path.join(BUILD, "CMakeCache.txt")),
                     "needs the build directory and cmake")
class Installed(unittest.TestCase):
    """cmake --install into a prefix of its own: the installed binary serves the installed page."""

    def test_installed_binary_serves_the_installed_page(self):
        prefix = tempfile.mkdtemp(prefix="sluice-inst-")
        self.addCleanup(shutil.rmtree, prefix, True)
        subprocess.run(["cmake", "--install", BUILD, "--prefix", prefix], check=True,
                       stdout=subprocess.DEVNULL)
        page = os.path.join(prefix, "share", "sluice", "ui", "index.html")
        self.assertTrue(os.path.exists(page))
        old = harness.BIN
        harness.BIN = os.path.join(prefix, "bin", "sluice")
        try:
            srv = Server().start()
        finally:
            harness.BIN = old
        self.addCleanup(srv.stop)
        st, _, body = get(srv.port, "/")
        self.assertEqual(st, 200)
        with open(page, "rb") as f:
            self.assertEqual(body, f.read())


if __name__ == "__main__":
    unittest.main()
