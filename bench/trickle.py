#!/usr/bin/env python3
"""bench/trickle.py: N slow concurrent uploads, and the server's RSS per upload.

    trickle.py URL PID [-n 5000] [-s 64K] [--rate 8K] [--expect] [--ramp 2]

Opens N connections (evenly over --ramp seconds), PUTs SIZE bytes to URL/trickle-<i> on each at
RATE bytes per second (in 1 KiB writes), with "Expect: 100-continue" and a wait for the 100 when
--expect (as curl does), reads every answer, and prints one JSON line: uploads answered 201, the
server's RSS before and at its peak (from /proc/PID/status, sampled every 50 ms), and the peak
RSS per upload. Every loop is bounded: the whole run stops after --timeout seconds.
"""
import argparse
import asyncio
import json
import time
import urllib.parse


def size_arg(v):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(v[:-1]) * mult[v[-1].upper()] if v[-1].upper() in mult else int(v)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def one(host, port, path, i, size, rate, expect, deadline):
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        return 0
    try:
        head = "PUT %s/trickle-%d HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n" % (path, i, host, size)
        if expect:
            head += "Expect: 100-continue\r\n"
        writer.write((head + "\r\n").encode())
        await writer.drain()
        if expect:
            line = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), deadline - time.time())
            if not line.startswith(b"HTTP/1.1 100"):
                return 0
        piece = b"x" * 1024
        sent, t0 = 0, time.time()
        while sent < size and time.time() < deadline:
            n = min(len(piece), size - sent)
            writer.write(piece[:n])
            await writer.drain()
            sent += n
            ahead = sent / rate - (time.time() - t0)
            if ahead > 0:
                await asyncio.sleep(ahead)
        status = await asyncio.wait_for(reader.readline(), max(0.1, deadline - time.time()))
        return 1 if b" 201 " in status else 0
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
        return 0
    finally:
        writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("pid", type=int)
    ap.add_argument("-n", type=int, default=5000)
    ap.add_argument("-s", type=size_arg, default=64 << 10)
    ap.add_argument("--rate", type=size_arg, default=8 << 10)
    ap.add_argument("--ramp", type=float, default=2.0)
    ap.add_argument("--expect", action="store_true")
    ap.add_argument("--timeout", type=float, default=120)
    a = ap.parse_args()
    u = urllib.parse.urlsplit(a.url)
    path = u.path.rstrip("/")
    deadline = time.time() + a.timeout
    base = rss_kib(a.pid)
    peak = [base]
    done = asyncio.Event()

    async def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(a.pid))
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    tasks = []
    for i in range(a.n):
        tasks.append(asyncio.create_task(one(u.hostname, u.port, path, i, a.s, a.rate, a.expect, deadline)))
        await asyncio.sleep(a.ramp / a.n)
    ok = sum(await asyncio.gather(*tasks))
    done.set()
    await sampler
    print(json.dumps({"uploads": a.n, "ok": ok, "expect": a.expect, "rss_base_kib": base,
                      "rss_peak_kib": peak[0], "kib_per_upload": round((peak[0] - base) / a.n, 1)}))


if __name__ == "__main__":
    asyncio.run(main())
