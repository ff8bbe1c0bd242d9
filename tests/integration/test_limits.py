#!/usr/bin/env python3
"""Limits per client (docs/security.md): --max-conns-per-ip, --header-timeout, --min-rate,
--max-header-size, and the trickling-connections scenarios.

Every client here is loopback, which the per-IP limit exempts by default, so these servers run
with --limit-loopback; Linux routes all of 127.0.0.0/8 to lo, so 127.0.0.2, .3, … are other
clients. Each refusal: its status and JSON body (or a close at accept), nothing written, the
server still serving, and its count in sluice_refused_total.

The 5,000-connection figure of the issue is bench/tricklers.py's (a bench, not a test); here a few
hundred connections show the same thing in seconds.

Run: SLUICE_BIN=build/sluice python3 tests/integration/test_limits.py -v
"""
import json
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LIMIT, Server, ServerTest, parse_metrics, read_until_done,  # noqa: E402
                     status_of, wait_until)


def connect(port, src="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(LIMIT)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def exchange_from(port, data, src="127.0.0.1"):
    s = connect(port, src)
    try:
        s.sendall(data)
        return read_until_done(s, LIMIT)
    finally:
        s.close()


def closed_at_once(s):
    """True if the server closed s (EOF or reset) without a byte."""
    try:
        return s.recv(1) == b""
    except ConnectionError:
        return True


class LimitTest(ServerTest):
    args = ()

    def setUp(self):
        self.srv = Server(*self.args).start()

    def scrape(self, src="127.0.0.9"):
        resp, _ = exchange_from(self.srv.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n"
                                b"Connection: close\r\n\r\n", src)
        self.assertEqual(status_of(resp), 200, resp[:200])
        return parse_metrics(resp.split(b"\r\n\r\n", 1)[1].decode())

    def refused(self, reason):
        return sum(v for (n, lab), v in self.scrape().items()
                   if n == "sluice_refused_total" and ("reason", reason) in lab)

    def put(self, name, body, src="127.0.0.1"):
        resp, _ = exchange_from(self.srv.port, b"PUT /files/%s HTTP/1.1\r\nHost: x\r\n"
                                b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                                % (name.encode(), len(body), body), src)
        return resp

    def assert_error(self, resp, status, code):
        self.assertEqual(status_of(resp), status, resp[:300])
        head, _, body = resp.partition(b"\r\n\r\n")
        self.assertRegex(head, rb"(?im)^content-type:\s*application/json")
        doc = json.loads(body.decode())
        self.assertEqual((doc["status"], doc["code"]), (status, code), doc)


class ConnsPerIp(LimitTest):
    args = ("--limit-loopback", "--max-conns-per-ip", "4")

    def test_fifth_connection_closed_at_accept(self):
        held = [connect(self.srv.port) for _ in range(4)]
        try:
            # the four are served: one request each, keep-alive
            for s in held:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                resp, _ = read_until_done(s, LIMIT)
                self.assertEqual(status_of(resp), 200)
            extra = connect(self.srv.port)
            self.assertTrue(closed_at_once(extra), "a fifth connection was kept")
            extra.close()
            # another client is not affected
            self.assertEqual(status_of(self.put("other", b"x" * 1000, src="127.0.0.2")), 201)
            self.assertGreaterEqual(self.refused("conns_per_ip"), 1)
            held.pop().close()

            def fifth_served():
                s = connect(self.srv.port)
                try:
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    return status_of(read_until_done(s, LIMIT)[0]) == 200
                finally:
                    s.close()
            wait_until(fifth_served, "a connection once one of the four closed")
        finally:
            for s in held:
                s.close()

    def test_loopback_exempt_by_default(self):
        srv = Server("--max-conns-per-ip", "2").start()
        try:
            held = [connect(srv.port) for _ in range(5)]
            for s in held:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assertEqual(status_of(read_until_done(s, LIMIT)[0]), 200)
            for s in held:
                s.close()
        finally:
            srv.stop()


class HeaderTimeout(LimitTest):
    args = ("--header-timeout", "1")

    def test_partial_header_408_then_closed(self):
        for partial in (b"", b"PUT /files/x HTTP/1.1\r\nHost: x\r\n", b"GET /heal"):
            with self.subTest(partial=partial):
                s = connect(self.srv.port)
                try:
                    s.sendall(partial)
                    resp, how = read_until_done(s, LIMIT)
                    self.assert_error(resp, 408, "SL_EIDLE")
                    rest, how = read_until_done(s, LIMIT)
                    self.assertIn(how, ("closed", "reset"))
                finally:
                    s.close()
        self.assertGreaterEqual(self.refused("header_timeout"), 3)
        self.assertEqual(status_of(self.put("ok", b"abc")), 201)
        self.assertEqual(self.srv.final_files(), ["ok"])

    def test_idle_keep_alive_closed_without_408(self):
        s = connect(self.srv.port)
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(status_of(read_until_done(s, LIMIT)[0]), 200)
            rest, how = read_until_done(s, LIMIT)
            self.assertEqual((rest, how in ("closed", "reset")), (b"", True))
        finally:
            s.close()


class MinRate(LimitTest):
    args = ("--min-rate", "64K", "--min-rate-window", "1")

    def trickle(self, expect):
        s = connect(self.srv.port)
        try:
            s.sendall(b"PUT /files/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n%s\r\n"
                      % (b"Expect: 100-continue\r\n" if expect else b""))
            if expect:
                s.settimeout(LIMIT)
                self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 100"))
            resp = b""
            s.settimeout(0.1)
            deadline = time.monotonic() + LIMIT
            while time.monotonic() < deadline and b"\r\n\r\n" not in resp:
                try:
                    s.sendall(b"z" * 10)
                    resp += s.recv(65536)
                except socket.timeout:
                    continue
                except ConnectionError:
                    break
            s.settimeout(LIMIT)
            try:
                while b"\r\n\r\n" in resp and not resp.endswith(b"}\n"):
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    resp += chunk
            except ConnectionError:
                pass
            return resp
        finally:
            s.close()

    def test_slow_body_408(self):
        for expect in (False, True):  # read by libmicrohttpd, or by sluice from the socket
            with self.subTest(expect=expect):
                resp = self.trickle(expect)
                self.assert_error(resp, 408, "SL_ETOOSLOW")
        wait_until(lambda: not self.srv.tmp_files(), "the temp files to go")
        self.assertEqual(self.srv.final_files(), [])
        self.assertGreaterEqual(self.refused("min_rate"), 2)
        body = os.urandom(4 << 20)
        self.assertEqual(status_of(self.put("fast", body)), 201)


class HeaderSize(LimitTest):
    args = ("--max-header-size", "1K")

    def test_431(self):
        resp, _ = exchange_from(self.srv.port, b"PUT /files/h HTTP/1.1\r\nHost: x\r\nX-Pad: %s\r\n"
                                b"Content-Length: 1\r\nExpect: 100-continue\r\n\r\n" % (b"p" * 2000))
        self.assert_error(resp, 431, "SL_EHEADERSIZE")
        self.assertNotIn(b"HTTP/1.1 100", resp)
        self.assertGreaterEqual(self.refused("header_size"), 1)
        self.assertEqual(status_of(self.put("ok", b"1")), 201)
        self.assertEqual(self.srv.final_files(), ["ok"])


class Tricklers(LimitTest):
    """Many connections that send a header byte now and then: from one address they hit
    --max-conns-per-ip, from many they are shed by --header-timeout; a normal upload from
    another client goes through all along."""
    args = ("--limit-loopback", "--max-conns-per-ip", "50", "--header-timeout", "2")
    N = 300

    def start_tricklers(self, sources, stop):
        socks = []
        for i in range(self.N):
            try:
                socks.append(connect(self.srv.port, sources[i % len(sources)]))
            except OSError:
                pass

        def drip():
            while not stop.is_set():
                for s in list(socks):
                    try:
                        s.send(b"X")
                    except OSError:
                        socks.remove(s)
                        s.close()
                stop.wait(0.5)
            for s in socks:
                s.close()
        t = threading.Thread(target=drip)
        t.start()
        return t

    def normal_upload(self):
        body = os.urandom(1 << 20)
        resp = self.put("normal", body, src="127.0.0.1")
        self.assertEqual(status_of(resp), 201, resp[:300])
        with open(os.path.join(self.srv.root, "normal"), "rb") as f:
            self.assertEqual(f.read(), body)

    def test_from_one_address(self):
        stop = threading.Event()
        t = self.start_tricklers(["127.0.0.2"], stop)
        try:
            wait_until(lambda: self.refused("conns_per_ip") >= self.N - 50, "the refusals")
            self.normal_upload()
        finally:
            stop.set()
            t.join(LIMIT)

    def test_from_many_addresses(self):
        stop = threading.Event()
        t = self.start_tricklers(["127.0.1.%d" % i for i in range(1, 31)], stop)
        try:
            self.normal_upload()
            wait_until(lambda: self.refused("header_timeout") >= self.N // 2, "the shedding")
            self.normal_upload()
        finally:
            stop.set()
            t.join(LIMIT)


if __name__ == "__main__":
    unittest.main()
