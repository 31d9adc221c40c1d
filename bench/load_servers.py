"""Tiny HTTP/1.1 servers on 127.0.0.1 for load benchmarks and tests: trivial, and stalling.

    .venv/bin/python -m bench.load_servers [--stall-every 5 --stall-for 1] [--port 0]

Prints `port N` on stdout once listening, then serves until killed. A raw asyncio protocol
(no framework) so the server costs far less CPU than the clients measured against it.
Paths: `/status/NNN` answers with that status; `/sleep/MS` answers after MS milliseconds;
anything else answers 200 `ok`. With `--stall-every E --stall-for F`, every response due in
the first F seconds of each E-second period waits until that window ends (a stop-the-world
pause: a GC, a lock, a checkpoint).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

_REASONS = {200: "OK", 201: "Created", 404: "Not Found", 429: "Too Many Requests", 500: "Error"}


@dataclass(frozen=True)
class Stall:
    """Freeze responses for `duration` seconds at the start of every `every`-second period."""

    every: float
    duration: float

    def delay(self, now: float, started: float) -> float:
        phase = (now - started) % self.every
        return self.duration - phase if phase < self.duration else 0.0


def _response(status: int) -> bytes:
    body = b"ok" if status < 400 else b"error"
    reason = _REASONS.get(status, "Status")
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        f"Content-Length: {len(body)}\r\nContent-Type: text/plain\r\n\r\n"
    )
    return head.encode() + body


_OK = _response(200)


class _Http(asyncio.Protocol):
    """Keep-alive HTTP/1.1: parse heads (and Content-Length bodies), answer in order."""

    def __init__(self, stall: Stall | None, started: float) -> None:
        self.stall = stall
        self.started = started
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip() or 0)
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            self._answer(head.split(b" ", 2)[1] if b" " in head else b"/")

    def _answer(self, path: bytes) -> None:
        status, delay = 200, 0.0
        if path.startswith(b"/status/"):
            status = int(path[8:11])
        elif path.startswith(b"/sleep/"):
            delay = int(path[7:].split(b"?")[0]) / 1000
        if self.stall is not None:
            delay = max(delay, self.stall.delay(time.monotonic(), self.started))
        if delay > 0:  # clients here send one request at a time per connection: no reordering
            asyncio.get_running_loop().call_later(delay, self._write, status)
        else:
            self._write(status)

    def _write(self, status: int) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_OK if status == 200 else _response(status))


async def serve(port: int, stall: Stall | None) -> None:
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    server = await loop.create_server(
        lambda: _Http(stall, started), "127.0.0.1", port, backlog=1024
    )
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


@contextlib.contextmanager
def running(stall: Stall | None = None) -> Iterator[int]:
    """Start a server in a subprocess (its own core and GIL); yield its port; kill it by PID."""
    args = [sys.executable, "-m", "bench.load_servers"]
    if stall is not None:
        args += ["--stall-every", str(stall.every), "--stall-for", str(stall.duration)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("port "):
            raise RuntimeError(f"load server did not start: {line!r}")
        yield int(line.split()[1])
    finally:
        proc.kill()
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--stall-every", type=float, default=0.0)
    parser.add_argument("--stall-for", type=float, default=0.0)
    args = parser.parse_args()
    stall = Stall(args.stall_every, args.stall_for) if args.stall_every > 0 else None
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, stall))


if __name__ == "__main__":
    main()
