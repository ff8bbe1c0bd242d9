"""The sluice command line: --help, --version, bad flags (exit code 2), start-up failures, and
one setting given as --flag VALUE, --flag=VALUE, SLUICE_FLAG and a --config file alike."""
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import BIN, Server, curl


def run(*args, env=None):
    return subprocess.run([BIN] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=20, env=env)


def settings(text):
    """--check-config's output as a list of (key, value) lines, comments left out."""
    return [tuple(part.strip() for part in line.split("=", 1))
            for line in text.decode().splitlines() if line and not line.startswith("#")]


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

    def test_help_lists_every_key_of_the_configuration(self):
        keys = [k for k, _ in settings(run("--check-config").stdout)]
        self.assertIn("max-size", keys)
        help_text = run("-h").stdout.decode()
        for k in keys:
            self.assertIn("  --" + k + " ", help_text)
        for flag in ("--config", "--check-config", "--help", "--version"):
            self.assertIn(flag, help_text)

    def test_a_setting_is_the_same_from_flags_env_and_file(self):
        cases = [("max-size", "5M"), ("durability", "none"), ("workers", "auto"),
                 ("cors-origin", "https://a.example"), ("listen", "[::1]:9000"),
                 ("digest", "sha-512,crc32"), ("min-free", "0"), ("log-level", "warn")]
        base = dict(os.environ)
        for key, value in cases:
            with self.subTest(key=key):
                var = "SLUICE_" + key.upper().replace("-", "_")
                env = {k: v for k, v in base.items() if k != var}
                with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
                    f.write(f"{key} = {value}\n")
                    f.flush()
                    ways = [run(f"--{key}", value, "--check-config", env=env),
                            run(f"--{key}={value}", "--check-config", env=env),
                            run("--check-config", env=dict(env, **{var: value})),
                            run("--config", f.name, "--check-config", env=env)]
                for p in ways:
                    self.assertEqual(p.returncode, 0, p.stderr)
                    self.assertEqual(p.stdout, ways[0].stdout)
                self.assertNotEqual(ways[0].stdout, run("--check-config", env=env).stdout)
        p = run("--verbose", "--check-config")
        self.assertIn(("verbose", "true"), settings(p.stdout))
        self.assertIn(("log-level", "debug"), settings(p.stdout))

    def test_check_config_output_reads_back_the_same(self):
        p = run("--max-size", "3G", "--cors-origin", "*", "--trust-proxy", "--root", "/srv/a b",
                "--check-config")
        self.assertEqual(p.returncode, 0, p.stderr)
        with tempfile.NamedTemporaryFile("wb", suffix=".conf") as f:
            f.write(p.stdout)
            f.flush()
            again = run("--config", f.name, "--check-config")
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertEqual(again.stdout, p.stdout)

    def test_a_bad_variable_or_key_exits_2_naming_it(self):
        p = run("--check-config", env=dict(os.environ, SLUICE_IDLE_TIMEOUT="soon"))
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"SLUICE_IDLE_TIMEOUT", p.stderr)
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write("max-size = 1G\nhelp = 1\n")
            f.flush()
            p = run("--config", f.name)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b":2: unknown key 'help'", p.stderr)

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
            (["--max-size=12Q"], "invalid value '12Q' for --max-size"),
            (["--bogus=1"], "unknown option '--bogus'"),
            (["--check-config=yes"], "takes no value"),
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
