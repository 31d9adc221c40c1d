"""The open-model load generator: requests leave on a fixed timetable, whatever the server does.

Each latency is measured from the request's intended send time (as wrk2 does), so a server
that stalls is charged for the requests that queued behind the stall (no coordinated omission).
Raw HTTP/1.1 keep-alive connections parsed by httptools: several times the rate aiohttp reaches
on one core (bench/load_throughput.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import ssl
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

import httptools
from hdrh.histogram import HdrHistogram

from prodready.errors import TargetError
from prodready.load.requests import RequestFactory
from prodready.load.result import (
    EndpointResult,
    Latency,
    LoadRun,
    TimelinePoint,
    new_histogram,
)
from prodready.load.scenario import Scenario
from prodready.load.schedule import intended_offsets
from prodready.load.target import Target

CLIENT_LAG_LIMIT_S = 0.05  # the timetable slipping this far (p99) means the client is the limit
TICK_S = 1.0
SWEEP_S = 0.1
EARLY_S = 0.001  # requests due this soon leave with the current batch (timer granularity)
_BATCH = 64  # most requests sent per event-loop turn, so answers are read in between


@dataclass(frozen=True)
class Progress:
    """What a progress display shows once a second."""

    elapsed_s: float
    duration_s: float
    sent: int
    requests: int
    errors: int
    dropped: int
    in_flight: int
    rps: float
    p95_ms: float | None


class _Pending:
    __slots__ = ("due", "endpoint", "head")

    def __init__(self, due: float, endpoint: int, head: bool) -> None:
        self.due = due
        self.endpoint = endpoint
        self.head = head


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self, runner: _Runner) -> None:
        self.runner = runner
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.current: _Pending | None = None
        self.started = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, pending: _Pending, data: bytes, now: float) -> None:
        self.current = pending
        # measured from the intended time; never from before it (no early sends exist)
        self.started = min(pending.due, now)
        assert self.transport is not None
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.fail("upgrade")
        except httptools.HttpParserError:
            self.fail("bad_response")

    def on_headers_complete(self) -> None:
        if self.current is not None and self.current.head:  # HEAD answers carry no body
            self.parser = httptools.HttpResponseParser(self)
            self.on_message_complete(keep=True)

    def on_message_complete(self, keep: bool | None = None) -> None:
        pending, self.current = self.current, None
        if pending is None:
            return
        status = self.parser.get_status_code()
        if keep is None:
            keep = self.parser.should_keep_alive()
        self.runner.answered(self, pending, str(status) if status >= 400 else None, keep)

    def fail(self, reason: str) -> None:
        pending, self.current = self.current, None
        if pending is not None:
            self.runner.answered(self, pending, reason, keep=False)
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        pending, self.current = self.current, None
        if pending is not None:
            self.runner.answered(self, pending, "reset", keep=False)
        self.runner.closed(self)


class _Runner:
    """Dispatches the timetable over a bounded pool of connections and records every answer."""

    def __init__(
        self,
        scenario: Scenario,
        target: Target,
        progress: Callable[[Progress], None] | None,
        seed: int | None,
        percentiles: tuple[float, ...] = (),
    ) -> None:
        self.scenario = scenario
        self.percentiles = percentiles
        self.target = target
        self.factory = RequestFactory(scenario, target, seed)
        self.progress = progress
        self.max_connections = scenario.connections
        self.timeout = scenario.timeout_s
        n = len(scenario.endpoints)
        self.hists = [new_histogram() for _ in range(n)]
        self.interval = new_histogram()
        self.lag = new_histogram()
        self.counts = [0] * n
        self.errors = [0] * n
        self.by_status: list[Counter[str]] = [Counter() for _ in range(n)]
        self.idle: list[_Connection] = []
        self.busy: set[_Connection] = set()
        self.waiting: deque[_Pending] = deque()
        self.opening = 0
        self.open = 0
        self.peak_open = 0
        self.sent = 0
        self.dropped_late = 0  # the client's own timetable slipped past the timeout
        self.dropped_queued = 0  # no connection came free within the timeout
        self.tick_count = 0
        self.tick_errors = 0
        self.timeline: list[TimelinePoint] = []
        self.stop = asyncio.Event()
        self.interrupted = False
        self.ssl = _client_tls(target) if target.tls else None
        self.loop = asyncio.get_running_loop()
        self.start = 0.0
        self.last_send = 0.0

    # -- the timetable ---------------------------------------------------------------------

    async def run(self) -> LoadRun:
        loop = self.loop
        await self._prewarm()
        self.start = loop.time() + 0.02
        self._install_interrupt()
        ticker = asyncio.create_task(self._ticker())
        try:
            await self._schedule()
            await self._drain()
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            self._close_all()
            self._remove_interrupt()
        self._tick(loop.time())  # the last partial second
        return self._result(loop.time() - self.start)

    async def _schedule(self) -> None:
        """Send each request when it is due. Requests due within EARLY_S of now leave in the
        same wake-up (one event-loop turn per batch, not per request); an early request's
        latency counts from when it was sent, a late one's from when it was due."""
        loop, head_methods = self.loop, [e.method == "HEAD" for e in self.scenario.endpoints]
        batch = 0
        for offset in intended_offsets(self.scenario.stages):
            if self.stop.is_set():
                return
            due = self.start + offset
            now = loop.time()
            if due > now + EARLY_S:
                await asyncio.sleep(due - now)
                now, batch = loop.time(), 0
            elif batch >= _BATCH:  # behind schedule or a dense batch: still read the answers
                await asyncio.sleep(0)
                now, batch = loop.time(), 0
            batch += 1
            lag = now - due
            self.lag.record_value(max(int(lag * 1e6), 1))
            if lag > self.timeout:
                self.dropped_late += 1
                continue
            index = self.factory.pick()
            self.sent += 1
            self.last_send = now
            self._dispatch(_Pending(due, index, head_methods[index]), now)

    async def _prewarm(self) -> None:
        """Open a few connections before the clock starts: a burst of connects in the first
        second would be charged to the target's latency."""
        wanted = min(self.max_connections, max(2, math.ceil(self.scenario.peak_rate / 250)))
        self.opening += wanted
        await asyncio.gather(*(self._connect() for _ in range(wanted)))

    def _dispatch(self, pending: _Pending, now: float) -> None:
        if self.idle:
            self._send(self.idle.pop(), pending, now)
            return
        self.waiting.append(pending)
        if self.open + self.opening < self.max_connections:
            self._open()

    def _send(self, conn: _Connection, pending: _Pending, now: float) -> None:
        self.busy.add(conn)
        conn.send(pending, self.factory.build(pending.endpoint), now)

    def _open(self) -> None:
        self.opening += 1
        task = self.loop.create_task(self._connect())
        task.add_done_callback(_ignore_result)

    async def _connect(self) -> None:
        try:
            _, conn = await asyncio.wait_for(
                self.loop.create_connection(
                    lambda: _Connection(self),
                    self.target.address,
                    self.target.port,
                    ssl=self.ssl,
                    server_hostname=self.target.host if self.ssl else None,
                ),
                timeout=self.timeout,
            )
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            self.opening -= 1
            # the request that asked for this connection fails with the reason
            if self.waiting:
                pending = self.waiting.popleft()
                self._record(pending, _connect_reason(exc))
            if self.waiting and self.open + self.opening < self.max_connections:
                self._open()
            return
        self.opening -= 1
        self.open += 1
        self.peak_open = max(self.peak_open, self.open)
        self._next(conn)

    def _next(self, conn: _Connection) -> None:
        """A free connection takes the oldest waiting request still worth sending."""
        self.busy.discard(conn)
        now = self.loop.time()
        while self.waiting:
            pending = self.waiting.popleft()
            if now - pending.due > self.timeout:
                self.dropped_queued += 1
                continue
            self._send(conn, pending, now)
            return
        self.idle.append(conn)

    # -- answers ---------------------------------------------------------------------------

    def answered(self, conn: _Connection, pending: _Pending, error: str | None, keep: bool) -> None:
        now = self.loop.time()
        index = pending.endpoint
        micros = max(int((now - conn.started) * 1e6), 1)
        self.hists[index].record_value(micros)
        self.interval.record_value(micros)
        self._record(pending, error)
        if keep and conn.transport is not None and not conn.transport.is_closing():
            self._next(conn)
        else:
            self.busy.discard(conn)
            if conn.transport is not None:
                conn.transport.close()

    def _record(self, pending: _Pending, error: str | None) -> None:
        index = pending.endpoint
        self.counts[index] += 1
        self.tick_count += 1
        if error is not None:
            self.errors[index] += 1
            self.by_status[index][error] += 1
            self.tick_errors += 1

    def closed(self, conn: _Connection) -> None:
        self.busy.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)
        self.open -= 1
        if self.waiting and self.open + self.opening < self.max_connections:
            self._open()

    # -- time: progress, timeouts, the end ---------------------------------------------------

    async def _ticker(self) -> None:
        next_tick = self.start + TICK_S
        while True:
            await asyncio.sleep(SWEEP_S)
            now = self.loop.time()
            self._sweep(now)
            if now >= next_tick:
                self._tick(now)
                next_tick += TICK_S

    def _sweep(self, now: float) -> None:
        """Requests past the timeout fail as `timeout`; their connection is dropped."""
        for conn in [c for c in self.busy if c.current and now - c.started > self.timeout]:
            pending, conn.current = conn.current, None
            assert pending is not None
            self.busy.discard(conn)
            micros = int((now - conn.started) * 1e6)  # a timeout took at least this long
            self.hists[pending.endpoint].record_value(micros)
            self.interval.record_value(micros)
            self._record(pending, "timeout")
            if conn.transport is not None:
                conn.transport.abort()

    def _tick(self, now: float) -> None:
        elapsed = now - self.start
        p95 = self.interval.get_value_at_percentile(95) / 1000 if self.tick_count else None
        peak = self.interval.get_max_value() / 1000 if self.tick_count else None
        if self.tick_count or not self.timeline:
            self.timeline.append(
                TimelinePoint(
                    t=round(elapsed, 1),
                    requests=self.tick_count,
                    errors=self.tick_errors,
                    p95_ms=None if p95 is None else round(p95, 3),
                    max_ms=None if peak is None else round(peak, 3),
                )
            )
        if self.progress is not None:
            self.progress(
                Progress(
                    elapsed_s=elapsed,
                    duration_s=self.scenario.duration,
                    sent=self.sent,
                    requests=sum(self.counts),
                    errors=sum(self.errors),
                    dropped=self.dropped_late + self.dropped_queued,
                    in_flight=len(self.busy) + len(self.waiting),
                    rps=self.tick_count / TICK_S,
                    p95_ms=p95,
                )
            )
        self.interval.reset()
        self.tick_count = self.tick_errors = 0

    async def _drain(self) -> None:
        """Wait for answers still in flight, at most one timeout (the sweep fails the rest)."""
        deadline = self.loop.time() + self.timeout + 2 * SWEEP_S
        while (self.busy or self.waiting or self.opening) and not self.stop.is_set():
            if self.loop.time() > deadline:
                break
            await asyncio.sleep(0.02)
        self.dropped_queued += len(self.waiting)
        self.waiting.clear()

    def _close_all(self) -> None:
        for conn in [*self.idle, *self.busy]:
            conn.current = None  # an interrupted request is not an error of the target
            if conn.transport is not None:
                conn.transport.abort()
        self.idle.clear()
        self.busy.clear()

    # -- Ctrl-C ----------------------------------------------------------------------------

    def _install_interrupt(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self.loop.add_signal_handler(signal.SIGINT, self._interrupt)

    def _remove_interrupt(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self.loop.remove_signal_handler(signal.SIGINT)

    def _interrupt(self) -> None:
        self.interrupted = True
        self.stop.set()

    # -- the result ------------------------------------------------------------------------

    def _result(self, elapsed: float) -> LoadRun:
        endpoints = []
        overall = new_histogram()
        by_status: Counter[str] = Counter()
        for i, endpoint in enumerate(self.scenario.endpoints):
            overall.add(self.hists[i])
            by_status.update(self.by_status[i])
            endpoints.append(
                EndpointResult(
                    name=endpoint.name,
                    method=endpoint.method,
                    path=endpoint.path,
                    requests=self.counts[i],
                    errors=self.errors[i],
                    errors_by_status=dict(self.by_status[i]),
                    latency=Latency.of(self.hists[i]),
                    extra_percentiles=self._extra(self.hists[i]),
                )
            )
        lag_p99 = (
            self.lag.get_value_at_percentile(99) / 1000 if self.lag.get_total_count() else None
        )
        duration = self.scenario.duration
        if self.interrupted:  # what was offered is what was due before Ctrl-C
            duration = max(min(duration, elapsed), 1e-3)
        scheduled = self.sent + self.dropped_late
        return LoadRun(
            target=self.target.url,
            engine="prodready",
            scenario=self.scenario.name,
            duration_s=round(duration, 3),
            elapsed_s=round(elapsed, 3),
            sending_s=round(self._sending(duration), 3),
            scheduled=scheduled if self.interrupted else self.scenario.total_requests,
            requests=sum(self.counts),
            dropped=self.dropped_late + self.dropped_queued,
            errors=sum(self.errors),
            errors_by_status=dict(by_status),
            latency=Latency.of(overall),
            endpoints=tuple(endpoints),
            client_limited=self.dropped_late > 0
            or (lag_p99 is not None and lag_p99 > CLIENT_LAG_LIMIT_S * 1000),
            send_lag_p99_ms=None if lag_p99 is None else round(lag_p99, 3),
            max_connections=self.peak_open,
            interrupted=self.interrupted,
            timeline=tuple(self.timeline),
            extra_percentiles=self._extra(overall),
        )

    def _sending(self, duration: float) -> float:
        """The time it took to send; a last send within 1% of the end is on time."""
        window = self.last_send - self.start
        return window if window > duration * 1.01 else duration

    def _extra(self, hist: HdrHistogram) -> dict[str, float]:
        if not hist.get_total_count():
            return {}
        return {f"p{p:g}": hist.get_value_at_percentile(p) / 1000 for p in self.percentiles}


def _ignore_result(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it at exit


def _connect_reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ssl.SSLError):
        return "tls"
    if isinstance(exc, TimeoutError):
        return "connect_timeout"
    return "connect_error"


def _client_tls(target: Target) -> ssl.SSLContext:
    return ssl.create_default_context()


def run_open_model(
    scenario: Scenario,
    target: Target,
    *,
    progress: Callable[[Progress], None] | None = None,
    seed: int | None = None,
    percentiles: tuple[float, ...] = (),
) -> LoadRun:
    """Run the scenario against the target; returns when the timetable is done (or Ctrl-C)."""
    preflight(target, timeout=min(scenario.timeout_s, 10.0))

    async def main() -> LoadRun:
        return await _Runner(scenario, target, progress, seed, percentiles).run()

    return asyncio.run(main())


def preflight(target: Target, timeout: float) -> None:
    """One connection (and TLS handshake) before the run: refused, reset or TLS errors end it."""
    import socket

    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((target.address, target.port), timeout=timeout) as sock:
            if target.tls:
                context = _client_tls(target)
                remaining = max(deadline - time.monotonic(), 0.1)
                sock.settimeout(remaining)
                try:
                    with context.wrap_socket(sock, server_hostname=target.host):
                        pass
                except TimeoutError:
                    raise ssl.SSLError("the handshake timed out (is it an https port?)") from None
    except ssl.SSLError as exc:
        raise TargetError(
            f"TLS handshake with {target.host}:{target.port} failed: {exc.reason or exc.args[-1]}"
        ) from None
    except ConnectionRefusedError:
        raise TargetError(
            f"cannot reach {target.host}:{target.port}: connection refused (is the app running?)"
        ) from None
    except TimeoutError:
        raise TargetError(
            f"cannot reach {target.host}:{target.port}: connection timed out"
        ) from None
    except OSError as exc:
        raise TargetError(
            f"cannot reach {target.host}:{target.port}: {exc.strerror or exc}"
        ) from None
