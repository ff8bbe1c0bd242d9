"""The sluice command line: --help, --version, bad flags (exit code 2), start-up failures."""
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import BIN, Server, curl


def run(*args):
    return subprocess.run([BIN] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=20)


class Cli(unittest.TestCase):
    def test_help_lists_every_flag_and_exits_0(self):
        p = run("--help")
        self.assertEqual(p.returncode, 0)
        for flag in ("--listen", "--root", "--max-size", "--durability", "--max-connections",
                     "--idle-timeout", "--conn-memory", "--upload-buffer", "--buffer-budget",
                     "--threads", "--shutdown-timeout", "--list-limit", "--verbose",
                     "--max-expansion", "--max-parts", "--max-files", "--max-field-size",
                     "--max-part-header"):
            self.assertIn(flag.encode(), p.stdout)

    def test_version(self):
        p = run("--version")
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout.decode(), r"^sluice \d+\.\d+\.\d+")

    def test_bad_flags_exit_2_with_one_clear_line(self):
        cases = [
            (["--bogus"], "unknown option '--bogus'"),
            (["--max-size", "12Q"], "--max-size"),
            (["--max-size"], "needs a value"),
            (["--listen", "127.0.0.1"], "--listen"),
            (["--listen", "127.0.0.1:70000"], "--listen"),
            (["--durability", "sometimes"], "--durability"),
            (["--threads", "0"], "--threads"),
            (["--idle-timeout", "-1"], "--idle-timeout"),
            (["--conn-memory", "1"], "--conn-memory"),
            (["--max-expansion", "x"], "--max-expansion"),
            (["--max-parts", "0"], "--max-parts"),
            (["--max-files", "-3"], "--max-files"),
            (["--max-field-size", "0"], "--max-field-size"),
            (["--max-part-header", "10"], "--max-part-header"),
            (["--max-part-header", "2M"], "--max-part-header"),
        ]
        for args, msg in cases:
            with self.subTest(args=args):
                p = run(*args)
                self.assertEqual(p.returncode, 2, p.stderr)
                err = p.stderr.decode()
                self.assertIn(msg, err)
                self.assertEqual(err.count("\n"), 1, err)
                self.assertEqual(p.stdout, b"")

    def test_port_in_use_fails_clearly(self):
        srv = Server().start()
        try:
            d = tempfile.mkdtemp()
            p = run("--listen", f"127.0.0.1:{srv.port}", "--root", d)
            self.assertEqual(p.returncode, 1)
            self.assertIn(b"cannot start", p.stderr)
            self.assertEqual(curl(srv.url + "/healthz")[0], 200)
            shutil.rmtree(d)
        finally:
            self.assertEqual(srv.stop(), 0)

    def test_root_that_is_a_file_fails_clearly(self):
        with tempfile.NamedTemporaryFile() as f:
            p = run("--listen", "127.0.0.1:0", "--root", f.name)
            self.assertEqual(p.returncode, 1)
            self.assertIn(b"cannot start", p.stderr)

    def test_sigint_stops_an_idle_server_with_exit_0(self):
        srv = Server().start()
        self.assertEqual(srv.stop(sig=2, timeout=10), 0)


if __name__ == "__main__":
    unittest.main()
