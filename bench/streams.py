#!/usr/bin/env python3
"""Streaming load for bench/run.sh (standard library only).

  streams.py hold URL KEY MODEL N PID [HOLD_SECONDS=3] [PAD_BYTES=0]
      Opens N concurrent streaming chat requests to URL, waits until each
      has received its first SSE event (30 s at most), then samples VmRSS of
      process PID for HOLD_SECONDS while every stream stays open, and closes
      them. Prints one line: the peak VmRSS, and how many opened. With
      PAD_BYTES, each request's message is that many bytes long (request
      bodies held in flight).

  streams.py ttfb URL KEY MODEL N [quickack]
      N sequential streaming requests on one keep-alive connection (after 20
      for warm-up). Prints p50/p99 time to the response headers and to the
      first `data:` event, in microseconds. With `quickack` the client
      acknowledges every read at once (TCP_QUICKACK), which hides a server
      that writes small segments without TCP_NODELAY (Nagle waiting on the
      client's delayed ACK, ~40 ms on Linux).
"""
import asyncio
import json
import sys
import time
from urllib.parse import urlsplit


def request_bytes(url: str, key: str, model: str, pad: int = 0) -> bytes:
    parts = urlsplit(url)
    content = "x" * pad if pad else "hi"
    body = json.dumps({"model": model, "stream": True,
                       "messages": [{"role": "user", "content": content}]}).encode()
    return (f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
            f"Accept: text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


def host_port(url: str):
    parts = urlsplit(url)
    return parts.hostname, parts.port or 80


def vm_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def hold(url, key, model, n, pid, hold_seconds, pad=0):
    host, port = host_port(url)
    req = request_bytes(url, key, model, pad)
    opened = 0
    failed = 0
    all_open = asyncio.Event()
    stop = asyncio.Event()

    def settle():
        if opened + failed >= n:
            all_open.set()

    async def one():
        nonlocal opened, failed
        writer = None
        got_first = False
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(req)
            await writer.drain()
            buf = b""
            while b"data:" not in buf:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError("closed before the first event")
                buf += data
            if not buf.startswith(b"HTTP/1.1 200"):
                raise ConnectionError(buf.split(b"\r\n", 1)[0].decode("latin-1"))
            opened += 1
            got_first = True
            settle()
            # Keep reading (the proxy must relay every event) until told to stop.
            read = asyncio.ensure_future(reader.read(65536))
            stopped = asyncio.ensure_future(stop.wait())
            while True:
                done, _ = await asyncio.wait({read, stopped},
                                             return_when=asyncio.FIRST_COMPLETED)
                if stopped in done:
                    read.cancel()
                    break
                if not read.result():
                    stopped.cancel()
                    break
                read = asyncio.ensure_future(reader.read(65536))
        except (OSError, ConnectionError) as e:
            if not got_first:
                failed += 1
                settle()
                if failed <= 3:
                    print(f"stream failed: {e}", file=sys.stderr)
        finally:
            if writer is not None:
                writer.close()

    tasks = [asyncio.ensure_future(one()) for _ in range(n)]
    start = time.monotonic()
    try:
        await asyncio.wait_for(all_open.wait(), 30)
    except asyncio.TimeoutError:
        pass
    open_seconds = time.monotonic() - start
    peak = 0
    end = time.monotonic() + hold_seconds
    while time.monotonic() < end:
        peak = max(peak, vm_rss_kb(pid))
        await asyncio.sleep(0.25)
    print(f"{peak / 1024:.1f} MB  (opened {opened}/{n}, failed {failed}, "
          f"all open after {open_seconds:.1f}s)")
    stop.set()
    await asyncio.wait(tasks, timeout=10)


def ttfb(url, key, model, n, quickack=False):
    import socket
    host, port = host_port(url)
    req = request_bytes(url, key, model)
    sock = None
    to_headers, to_event = [], []
    for i in range(n + 20):
        if sock is None:
            sock = socket.create_connection((host, port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t0 = time.perf_counter()
        sock.sendall(req)
        buf = b""
        t_headers = t_event = None
        closed = False
        while True:
            data = sock.recv(65536)
            if quickack:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            if not data:
                closed = True
                break
            buf += data
            now = time.perf_counter()
            if t_headers is None and b"\r\n\r\n" in buf:
                t_headers = now
            if t_event is None and b"data:" in buf:
                t_event = now
            if t_event is not None and buf.endswith(b"0\r\n\r\n"):
                break
        if not buf.startswith(b"HTTP/1.1 200") or t_event is None:
            sys.exit(f"ttfb: bad answer from {url}: {buf[:200]!r}")
        if i >= 20:
            to_headers.append(t_headers - t0)
            to_event.append(t_event - t0)
        if closed or b"connection: close" in buf.split(b"\r\n\r\n", 1)[0].lower():
            sock.close()
            sock = None
    if sock is not None:
        sock.close()

    def pct(xs, p):
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(len(xs) * p))] * 1e6

    print(f"headers p50 {pct(to_headers, .5):.0f}us p99 {pct(to_headers, .99):.0f}us  "
          f"first-event p50 {pct(to_event, .5):.0f}us p99 {pct(to_event, .99):.0f}us")


def main():
    mode = sys.argv[1]
    if mode == "hold":
        url, key, model, n, pid = sys.argv[2:7]
        hold_seconds = float(sys.argv[7]) if len(sys.argv) > 7 else 3.0
        pad = int(sys.argv[8]) if len(sys.argv) > 8 else 0
        asyncio.run(hold(url, key, model, int(n), int(pid), hold_seconds, pad))
    elif mode == "ttfb":
        url, key, model, n = sys.argv[2:6]
        ttfb(url, key, model, int(n), sys.argv[6:7] == ["quickack"])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
