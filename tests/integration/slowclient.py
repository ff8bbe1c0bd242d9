"""The client side of the memory tests (test_memory.py, test_tus_memory.py): many slow uploads
at once from one thread with selectors (test_memory.py's slow PUTs, test_tus_memory.py's POSTs
and slow PATCHes), and the shared steps of their 2 GiB chunked uploads.

- raise_nofile(want): lift our soft RLIMIT_NOFILE (the server inherits it).
- parse_response(buf): one complete HTTP response, after any 100 Continue, or None.
- connect() and run_all(): non-blocking connections to 127.0.0.1, each sending its request bytes
  and reading one response, driven together until each has its response or closed, or a deadline.
- SlowClient: N such connections that send their request head at once, then trickle their body
  in K equal pieces at an interval (staggered, so that the pieces of different uploads do not all
  fall on the same instant), tracking the highest server RSS seen and calling a sampling callback
  every loop turn so that a test can sample the server while the uploads are in flight. With a
  gate, the last pieces wait until the gate says so (the server holds every upload at once).
- failures(): the connections without a response or with a wrong one.
- SlowUploadsCase: what the two slow-upload test classes share (body size and pieces, the open
  files limit, the bodies, the server's RSS at rest, the client).
- send_chunk(), end_chunked() and stream_figures(): the chunk framing of the tests' 2 GiB
  chunked uploads, their end (last chunk, reply, the server's memory after) and the figures
  they print.

Every wait is bounded; connections still open at a deadline are closed.
"""
import os
import random
import resource
import selectors
import socket
import time
import types

from harness import exchange, read_until_done, status_of


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def parse_response(buf):
    """(status, headers dict, body) of one complete HTTP response in buf (after any 100
    Continue), or None if incomplete."""
    while True:
        if b"\r\n\r\n" not in buf:
            return None
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        if status == 100:
            buf = rest
            continue
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            headers[k.strip().lower().decode()] = v.strip().decode()
        n = int(headers.get("content-length", "0"))
        if len(rest) < n:
            return None
        return status, headers, rest[:n]


def connect(sel, port, data):
    """Start a non-blocking connection to 127.0.0.1:port for data, a dict holding the
    connection's state with "out" the bytes to send first; adds sock, in (bytes read), resp
    (parse_response of them) and closed to it, registers it in sel and returns it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    err = s.connect_ex(("127.0.0.1", port))
    if err not in (0, 115):  # 115 = EINPROGRESS
        s.close()
        raise AssertionError("connect: %s" % os.strerror(err))
    data.update({"sock": s, "in": b"", "resp": None, "closed": False})
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, data)
    return data


def flush(c):
    """Send what the socket takes of c["out"]; a connection error is noted in c["err"]."""
    if not c["out"]:
        return
    try:
        n = c["sock"].send(c["out"])
        c["out"] = c["out"][n:]
    except (BlockingIOError, InterruptedError):
        pass
    except ConnectionError as e:
        c["err"] = repr(e)
        c["out"] = b""


def run_all(conns, sel, deadline, on_tick=None):
    """Drive every connection in conns (from connect()) until each has a complete response or
    closed, or the deadline; on_tick(now, open_conns) runs every loop turn. A connection is
    closed once it has its response (t_done: when). Returns how many were still open at the
    deadline; those are closed too."""
    open_conns = sum(1 for c in conns if not c["closed"])
    while open_conns and time.time() < deadline:
        for key, ev in sel.select(timeout=0.02):
            c = key.data
            if ev & selectors.EVENT_WRITE:
                flush(c)
            if ev & selectors.EVENT_READ:
                try:
                    data = c["sock"].recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except ConnectionError as e:
                    data = b""
                    c["err"] = repr(e)
                if data:
                    c["in"] += data
                    c["resp"] = parse_response(c["in"])
                if not data or c["resp"] is not None:
                    sel.unregister(c["sock"])
                    c["sock"].close()
                    c["closed"] = True
                    c["t_done"] = time.time()
                    open_conns -= 1
                    continue
            want = selectors.EVENT_READ | (selectors.EVENT_WRITE if c["out"] else 0)
            if not c["closed"] and key.events != want:
                sel.modify(c["sock"], want, c)
        if on_tick is not None:
            on_tick(time.time(), open_conns)
    for c in conns:
        if not c["closed"]:
            sel.unregister(c["sock"])
            c["sock"].close()
            c["closed"] = True
    return open_conns


class SlowClient:
    """len(heads) uploads held open together: connection i sends heads[i] at once, then
    bodies[i] in `pieces` equal pieces, one every `interval` seconds, the first 0.5 s after the
    start plus a stagger of up to one interval (i % 50 fiftieths of it).

    conns: the connections' state, connect()'s plus i, body, sent_pieces (pieces queued) and
    next (when the next piece is due). t0: the start (time.time(), before the connections open).
    peak: the highest server RSS seen while running, [KiB, at second after t0, fewest pieces sent
    then, uploads finished then]. elapsed: seconds from t0 to the end of run().

    gate: None, or a callable; then no upload sends its last HOLD pieces before gate() returned
    true, asked (every 0.1 s at most) once every upload is waiting there. A test makes it the
    condition it needs while all uploads are in flight, so that it comes about whatever the
    timing, instead of hoping a sample falls on it."""

    HOLD = 4

    def __init__(self, port, heads, bodies, pieces, interval, gate=None):
        self.pieces = pieces
        self.interval = interval
        self.gate = gate
        self.gate_open = gate is None
        self.gate_asked = 0.0
        self.sel = selectors.DefaultSelector()
        self.t0 = time.time()
        self.conns = [connect(self.sel, port, {
            "i": i, "body": body, "out": head, "sent_pieces": 0,
            "next": self.t0 + 0.5 + (i % 50) * (interval / 50),
        }) for i, (head, body) in enumerate(zip(heads, bodies))]
        self.peak = [0, 0.0, 0, 0]
        self.elapsed = None

    def mid_trickle(self, sent):
        """Whether, by sent (pieces sent of each upload), every upload is in the middle of its
        trickle: its head and some body in, some still to come."""
        return min(sent) >= 4 and max(sent) <= self.pieces - 4

    def trickle(self, now):
        """Queue and send the pieces that are due."""
        for c in self.conns:
            if c["closed"] or c["sent_pieces"] >= self.pieces or now < c["next"]:
                continue
            if not self.gate_open and c["sent_pieces"] >= self.pieces - self.HOLD:
                continue
            piece = len(c["body"]) // self.pieces
            k = c["sent_pieces"]
            c["out"] += c["body"][k * piece:(k + 1) * piece]
            c["sent_pieces"] += 1
            c["next"] = now + self.interval
            flush(c)
            if c["out"] and not c["closed"]:
                self.sel.modify(c["sock"], selectors.EVENT_READ | selectors.EVENT_WRITE, c)

    def run(self, limit, rss, sample):
        """Trickle the bodies and read the responses until every upload has its response or
        closed, or `limit` seconds after t0. Every loop turn, after the pieces due are sent:
        rss() (the server's RSS in KiB) updates peak, then sample(rss_now, open_conns, sent)
        with sent the pieces sent of each upload. Returns how many were still open at the
        limit (those are closed)."""
        n = len(self.conns)

        def tick(now, open_conns):
            sent = [c["sent_pieces"] for c in self.conns]
            if (not self.gate_open and min(sent) >= self.pieces - self.HOLD and
                    now - self.gate_asked >= 0.1):
                self.gate_asked = now
                self.gate_open = bool(self.gate())
            self.trickle(now)
            sent = [c["sent_pieces"] for c in self.conns]
            rss_now = rss()
            if rss_now > self.peak[0]:
                self.peak[:] = [rss_now, time.time() - self.t0, min(sent), n - open_conns]
            sample(rss_now, open_conns, sent)

        left = run_all(self.conns, self.sel, self.t0 + limit, tick)
        self.elapsed = time.time() - self.t0
        return left


class SlowUploadsCase:
    """Mixin for a ServerTest (put it first among the bases) of N slow uploads at once, each
    body SIZE bytes of random.Random(SEED + i), trickled in PIECES pieces every INTERVAL seconds;
    the test class sets N, INTERVAL and SEED."""

    SIZE = 64 * 1024
    PIECES = 16           # body sent in 16 pieces of 4 KiB
    SEED = 0

    def setUp(self):
        # the server inherits our limit: N sockets + N temp or work files + its own
        self.nofile = raise_nofile(3 * self.N + 256)
        super().setUp()

    def body_of(self, i):
        return random.Random(self.SEED + i).randbytes(self.SIZE)

    def rss_at_rest(self):
        """The server's RSS (KiB) once it has answered a request, before the uploads; fails if
        the open files limit is too low for them."""
        self.assertGreaterEqual(self.nofile, 2 * self.N + 64)
        r = exchange(self.srv.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(status_of(r), 200, r)
        return self.srv.rss_kib()

    def slow_client(self, heads, gate=None):
        """A SlowClient for the N uploads, started: heads[i], then body_of(i)."""
        return SlowClient(self.srv.port, heads, [self.body_of(i) for i in range(self.N)],
                          self.PIECES, self.INTERVAL, gate)


def send_chunk(s, data, i):
    """Send data on the blocking socket s in chunked transfer coding, the framing varied by i:
    one chunk, or (every third i) two uneven ones cut at a point that moves with i."""
    if i % 3:
        s.sendall(b"%x\r\n" % len(data) + data + b"\r\n")
    else:
        cut = 1 + (i * 7919) % (len(data) - 1)
        s.sendall(b"%x\r\n" % cut + data[:cut] + b"\r\n"
                  + b"%x\r\n" % (len(data) - cut) + data[cut:] + b"\r\n")


def end_chunked(s, srv, timeout):
    """Send the last chunk of the chunked body on s, read the reply (read_until_done, up to
    timeout seconds) and close s; then read the server's memory. Returns t_sent and t_done (when
    the last chunk went and when the reply was read), buf (the bytes read), resp (their
    parse_response: None if incomplete), hwm and rss_after (the server's VmHWM and RSS, KiB)."""
    s.sendall(b"0\r\n\r\n")
    t_sent = time.time()
    buf, _ = read_until_done(s, timeout)
    s.close()
    t_done = time.time()
    return types.SimpleNamespace(t_sent=t_sent, t_done=t_done, buf=buf,
                                 resp=parse_response(buf), hwm=srv.hwm_kib(),
                                 rss_after=srv.rss_kib())


def stream_figures(end, t0, total, rss_before, reply_what):
    """The figures of a chunked upload of total bytes begun at t0 and ended by end_chunked():
    sending time and rate, the time to the reply (reply_what), the server's RSS before (KiB),
    peak and after."""
    return ("send %.1fs (%.0f MiB/s), %s %.2fs; server RSS before %d KiB, peak (VmHWM) %d KiB, "
            "after %d KiB" % (end.t_sent - t0, total / (1 << 20) / (end.t_sent - t0), reply_what,
                              end.t_done - end.t_sent, rss_before, end.hwm, end.rss_after))


def failures(conns, check):
    """What went wrong, one tuple per connection: (i, "no response", error, first bytes read)
    where there is no complete response, else check(c, status, headers, body) (a tuple, or None
    when the response is right)."""
    bad = []
    for c in conns:
        if c["resp"] is None:
            bad.append((c["i"], "no response", c.get("err"), c["in"][:100]))
            continue
        wrong = check(c, *c["resp"])
        if wrong is not None:
            bad.append(wrong)
    return bad
