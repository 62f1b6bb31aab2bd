#!/usr/bin/env python3
"""Open many idle HTTP/1.1 keep-alive connections to a proxy and hold them.

What it answers: how much memory a proxy spends per idle client connection (the
"10,000 idle keep-alive connections" target of DESIGN.md). Each connection sends one
request and reads its answer, so the proxy has served it and keeps it as a real
keep-alive connection rather than a bare accepted socket; then it sits idle.

Prints `ready N` once all N connections are open and answered, then holds them until it is
killed. `loadtest/compare --memory` reads the proxy's RSS at that moment.

Python rather than a Rust binary: it needs no build, and asyncio holds 10,000 sockets in
one thread without effort.
"""

import argparse
import asyncio
import resource
import sys


async def open_one(host, port, path, gate):
    """Opens one connection, completes one request on it, and returns the pair."""
    async with gate:
        reader, writer = await asyncio.open_connection(host, port)
        request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n"
        writer.write(request.encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b" ", 2)[1]
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        # Unknown-length bodies are not expected from the benchmark upstreams.
        await reader.readexactly(length)
        if not status.startswith(b"2"):
            raise RuntimeError(f"status {status.decode()} on a keep-alive probe")
        return reader, writer


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--path", default="/")
    parser.add_argument(
        "--parallel", type=int, default=256,
        help="connections being opened at once; more overflows the listen backlog",
    )
    args = parser.parse_args()

    # Each connection is a descriptor here as well as in the proxy.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.count + 64:
        sys.exit(f"idle_conns: RLIMIT_NOFILE {hard} is below {args.count} connections; "
                 "raise it with `ulimit -n` first")

    gate = asyncio.Semaphore(args.parallel)
    connections = await asyncio.gather(
        *(open_one(args.host, args.port, args.path, gate) for _ in range(args.count))
    )
    print(f"ready {len(connections)}", flush=True)

    # Hold every connection open until killed.
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
