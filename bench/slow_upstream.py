#!/usr/bin/env python3
"""A slow OpenAI-compatible streaming upstream for bench/run.sh (standard
library only): every POST /v1/chat/completions is answered with an SSE
stream of one chunk per GAP seconds, until the client goes away or
MAX_SECONDS have passed, then [DONE]. GET /v1/models lists one model.

The scripted mock (examples/mock_upstream) sends its default stream at
once, so streams through it never stay open; this one keeps them open so
the proxy's memory with many live streams can be measured.

Usage: slow_upstream.py PORT [GAP_SECONDS=1.0] [MAX_SECONDS=60]
Loopback only; HTTP/1.1 keep-alive, chunked responses.
"""
import asyncio
import json
import sys
import time

PORT = int(sys.argv[1])
GAP = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
MAX_SECONDS = float(sys.argv[3]) if len(sys.argv) > 3 else 60.0

CHUNK = json.dumps({
    "id": "chatcmpl-slow", "object": "chat.completion.chunk", "created": 0,
    "model": "slow", "choices": [{"index": 0, "delta": {"content": "tick "},
                                  "finish_reason": None}],
}).encode()
LAST = json.dumps({
    "id": "chatcmpl-slow", "object": "chat.completion.chunk", "created": 0,
    "model": "slow", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
}).encode()
MODELS = json.dumps({"object": "list", "data": [
    {"id": "slow", "object": "model", "created": 0, "owned_by": "bench"}]}).encode()

open_streams = 0


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def event(payload: bytes) -> bytes:
    return chunk(b"data: " + payload + b"\n\n")


async def stream(writer: asyncio.StreamWriter) -> None:
    global open_streams
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                 b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n")
    open_streams += 1
    try:
        end = time.monotonic() + MAX_SECONDS
        while time.monotonic() < end:
            writer.write(event(CHUNK))
            await writer.drain()
            await asyncio.sleep(GAP)
        writer.write(event(LAST) + event(b"[DONE]") + b"0\r\n\r\n")
        await writer.drain()
    finally:
        open_streams -= 1


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path = lines[0].split(" ")[:2]
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if length:
                await reader.readexactly(length)
            if method == "POST" and path.endswith("/chat/completions"):
                await stream(writer)
            elif method == "GET" and path.endswith("/models"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(MODELS), MODELS))
                await writer.drain()
            else:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main() -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", PORT, backlog=4096)
    print(f"slow upstream at http://127.0.0.1:{PORT}/v1 (gap {GAP}s)", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
