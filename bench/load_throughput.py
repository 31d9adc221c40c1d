"""Throughput of `prodready load` beside Locust's fastest single process and wrk (the ceiling),
against the same trivial loopback server, in one run; then the Locust engine with 2 workers.

    .venv/bin/python -m bench.load_throughput [--seconds 5]

1. wrk (Debian package `wrk`, 2 threads, 64 connections): the ceiling of this machine.
2. Locust FastHttpUser, one process, no wait, 64 users: the rate issue 11 asks us to match.
3. Closed loops over 64 connections, no bookkeeping: aiohttp, and the engine's own transport
   (asyncio.Protocol + httptools): why the engine speaks raw HTTP/1.1.
4. prodready's open model at rising offered rates (2,000 req/s steps): the highest rate it
   sustains (achieved within 3% of offered, not client-limited), with that run's p99.
Each client gets the best of 2 attempts (wrk: one): the machine is shared.
5. The same 500 req/s scenario through `--engine locust --workers 2`: achieved rate and
   whether its thresholds give the same verdict as the prodready engine.

Results go to bench/results/load_throughput.{json,md}. About 3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.load_servers import running
from prodready.load import LoadOptions, run_load

RESULTS = Path(__file__).parent / "results"
CONNECTIONS = 64
ATTEMPTS = 2
RATES = tuple(range(2000, 40001, 2000))
LOCUSTFILE = """\
from locust import FastHttpUser, constant, task


class NoWait(FastHttpUser):
    wait_time = constant(0)

    @task
    def root(self):
        self.client.get("/")
"""


def wrk(url: str, seconds: int) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        return {"command": "wrk (not installed: apt-get install -y wrk)", "rps": None}
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    return {"command": " ".join(command), "rps": round(rps)}


def locust_fast(url: str, seconds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "locustfile.py"
        file.write_text(LOCUSTFILE)
        host = url.rstrip("/")  # a trailing slash makes Locust request "//"
        command = [sys.executable, "-m", "locust", "-f", str(file), "--headless", "-u",
                   str(CONNECTIONS), "-r", str(CONNECTIONS), "-t", f"{seconds}s", "-H", host,
                   "--csv", f"{tmp}/s", "--only-summary", "--loglevel", "WARNING"]  # fmt: skip
        # exit 1 only means "some requests failed" (connections cut when the run stops)
        subprocess.run(command, capture_output=True, check=False, timeout=seconds + 60)
        with open(f"{tmp}/s_stats.csv", newline="") as handle:
            row = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")
    shown = "locust -f nowait.py --headless -u 64 -r 64 -t {s}s (FastHttpUser, constant(0))"
    return {"command": shown.format(s=seconds), "rps": round(float(row["Requests/s"]))}


def aiohttp_closed(url: str, seconds: int) -> dict[str, Any]:
    try:
        import aiohttp
    except ImportError:
        return {"command": "aiohttp (not installed)", "rps": None}

    async def main() -> float:
        done = 0
        end = time.monotonic() + seconds
        connector = aiohttp.TCPConnector(limit=CONNECTIONS)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def worker() -> None:
                nonlocal done
                while time.monotonic() < end:
                    async with session.get(url) as response:
                        await response.read()
                    done += 1

            await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        return done / seconds

    return {
        "command": "aiohttp ClientSession, 64 closed-loop workers",
        "rps": round(asyncio.run(main())),
    }


def raw_closed(url: str, seconds: int) -> dict[str, Any]:
    """The engine's transport (asyncio.Protocol + httptools) in a closed loop, as aiohttp."""
    import httptools

    host, port = url.removeprefix("http://").rstrip("/").split(":")
    request = f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    done = 0

    class Loop(asyncio.Protocol):
        def __init__(self, end: float) -> None:
            self.end = end
            self.parser = httptools.HttpResponseParser(self)

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            transport.write(request)  # type: ignore[attr-defined]

        def data_received(self, data: bytes) -> None:
            self.parser.feed_data(data)

        def on_message_complete(self) -> None:
            nonlocal done
            done += 1
            if time.monotonic() < self.end:
                self.transport.write(request)  # type: ignore[attr-defined]

    async def main() -> float:
        loop = asyncio.get_running_loop()
        end = time.monotonic() + seconds
        for _ in range(CONNECTIONS):
            await loop.create_connection(lambda: Loop(end), host, int(port))
        await asyncio.sleep(seconds + 0.2)
        return done / seconds

    command = "asyncio.Protocol + httptools, 64 closed-loop connections"
    return {"command": command, "rps": round(asyncio.run(main()))}


def best_of(attempts: int, measure: Any, *args: Any) -> dict[str, Any]:
    """The best of a few runs: the machine is shared, and a neighbour's burst is not ours."""
    runs = [measure(*args) for _ in range(attempts)]
    best = max(runs, key=lambda r: r["rps"] or 0)
    return {**best, "attempts": [r["rps"] for r in runs]}


def prodready_open(url: str, seconds: int) -> dict[str, Any]:
    runs = []
    for rate in RATES:
        for _attempt in range(ATTEMPTS):  # a rate counts as sustained if one attempt holds it
            report = run_load(LoadOptions(url=url, rate=rate, duration=seconds, seed=1))
            run = report.run
            sustained = run.achieved_rps >= 0.97 * rate and not run.client_limited
            runs.append({"offered_rps": rate, "achieved_rps": round(run.achieved_rps),
                         "p99_ms": run.latency.p99, "send_lag_p99_ms": run.send_lag_p99_ms,
                         "client_limited": run.client_limited, "sustained": sustained})  # fmt: skip
            if sustained:
                break
        if not sustained:
            break
    best = max((r for r in runs if r["sustained"]), key=lambda r: r["offered_rps"], default=None)
    return {
        "command": f"prodready load URL --rate R --duration {seconds}s (R = 2000, 4000, ...)",
        "rps": best["achieved_rps"] if best else None,
        "runs": runs,
    }


def locust_mode(url: str) -> dict[str, Any]:
    thresholds = ("p95<500ms", "error_rate<1%")
    verdicts = {}
    for engine, workers in (("prodready", 1), ("locust", 2)):
        report = run_load(
            LoadOptions(
                url=url,
                rate=500,
                duration=10,
                thresholds=thresholds,
                engine=engine,
                workers=workers,
                seed=1,
            )
        )
        verdicts[engine] = {
            "achieved_rps": round(report.run.achieved_rps, 1),
            "p95_ms": report.run.latency.p95,
            "passed": report.passed,
        }
    return {
        "command": "prodready load URL --rate 500 --duration 10s -t p95<500ms -t error_rate<1% "
        "[--engine locust --workers 2]",
        "offered_rps": 500,
        **verdicts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    with running() as port:
        url = f"http://127.0.0.1:{port}/"
        results = {
            "wrk": wrk(url, args.seconds),
            "locust_fasthttpuser": best_of(ATTEMPTS, locust_fast, url, args.seconds),
            "aiohttp_closed": best_of(ATTEMPTS, aiohttp_closed, url, args.seconds),
            "raw_closed": best_of(ATTEMPTS, raw_closed, url, args.seconds),
            "prodready": prodready_open(url, args.seconds),
            "locust_mode": locust_mode(url),
        }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "load_throughput.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "load_throughput.md").write_text(markdown(results))
    print(markdown(results))


def markdown(r: dict[str, Any]) -> str:
    mode = r["locust_mode"]
    lines = [
        "# Load generator throughput (trivial loopback server, 2 cores)",
        "",
        "| client | req/s | how |",
        "|---|---|---|",
        f"| wrk (ceiling) | {r['wrk']['rps']} | `{r['wrk']['command']}` |",
        f"| Locust FastHttpUser, 1 process | {r['locust_fasthttpuser']['rps']} | "
        f"`{r['locust_fasthttpuser']['command']}` |",
        f"| aiohttp, closed loop | {r['aiohttp_closed']['rps']} | "
        f"{r['aiohttp_closed']['command']} |",
        f"| raw asyncio + httptools, closed loop | {r['raw_closed']['rps']} | "
        f"{r['raw_closed']['command']} |",
        f"| **prodready load** (open model, highest sustained) | **{r['prodready']['rps']}** | "
        f"`{r['prodready']['command']}` |",
        "",
        "prodready runs: "
        + "; ".join(
            f"{x['offered_rps']} offered → {x['achieved_rps']} achieved, p99 {x['p99_ms']} ms"
            + (" (client-limited)" if x["client_limited"] else "")
            for x in r["prodready"]["runs"]
        ),
        "",
        "## Locust engine, 2 local workers",
        "",
        f"`{mode['command']}`: offered {mode['offered_rps']} req/s.",
        "",
        "| engine | achieved req/s | p95 ms | thresholds |",
        "|---|---|---|---|",
    ]
    for engine in ("prodready", "locust"):
        v = mode[engine]
        passed = "pass" if v["passed"] else "fail"
        lines.append(f"| {engine} | {v['achieved_rps']} | {v['p95_ms']} | {passed} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
