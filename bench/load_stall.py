"""Honesty under stalls: a server that freezes 1 s every 5 s, measured open- and closed-model.

    .venv/bin/python -m bench.load_stall [--seconds 20] [--rate 200]

1. `prodready load` (open model, latency from the intended send time) at a fixed rate.
2. The same rate through `--engine locust` (Locust's constant-throughput users).
3. Locust's default closed model: 20 FastHttpUsers with the default wait_time (none).
4. wrk 4.1 (closed model, 20 connections, --latency). Note: wrk 4 corrects its histogram
   for coordinated omission after the run (`stats_correct`, an expected-interval fill), so
   its percentiles show the stalls although it sent nothing during them.

A fifth of all requests are due during a stall, so an honest p90 and p99 are hundreds of ms;
a closed-model client sends nothing while the server is frozen (20 stalled requests per
stall, whatever the rate) and reports low percentiles.
Results go to bench/results/load_stall.{json,md}. About 90 s on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.load_servers import Stall, running
from prodready.load import LoadOptions, run_load

RESULTS = Path(__file__).parent / "results"
CLOSED_USERS = 20
LOCUSTFILE = """\
from locust import FastHttpUser, task


class Default(FastHttpUser):  # no wait_time: Locust's default, the next task right away
    @task
    def root(self):
        self.client.get("/")
"""


def ours(url: str, rate: int, seconds: int, engine: str) -> dict[str, Any]:
    report = run_load(LoadOptions(url=url, rate=rate, duration=seconds, engine=engine, seed=1))
    run = report.run
    flag = " --engine locust" if engine == "locust" else ""
    return {
        "command": f"prodready load URL --rate {rate} --duration {seconds}s{flag}",
        "requests": run.requests,
        "achieved_rps": round(run.achieved_rps, 1),
        "p50_ms": run.latency.p50,
        "p90_ms": run.latency.p90,
        "p99_ms": run.latency.p99,
        "max_ms": run.latency.max,
    }


def locust_closed(url: str, seconds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "locustfile.py"
        file.write_text(LOCUSTFILE)
        command = [sys.executable, "-m", "locust", "-f", str(file), "--headless", "-u",
                   str(CLOSED_USERS), "-r", str(CLOSED_USERS), "-t", f"{seconds}s", "-H",
                   url.rstrip("/"), "--csv", f"{tmp}/s", "--only-summary", "--loglevel",
                   "WARNING"]  # fmt: skip
        subprocess.run(command, capture_output=True, check=False, timeout=seconds + 60)
        with open(f"{tmp}/s_stats.csv", newline="") as handle:
            row = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")
    return {
        "command": f"locust -u {CLOSED_USERS} -t {seconds}s (FastHttpUser, default wait_time)",
        "requests": int(row["Request Count"]),
        "achieved_rps": round(float(row["Requests/s"]), 1),
        "p50_ms": float(row["50%"]),
        "p90_ms": float(row["90%"]),
        "p99_ms": float(row["99%"]),
        "max_ms": round(float(row["Max Response Time"]), 1),
    }


def wrk(url: str, seconds: int) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        return {"command": "wrk (not installed: apt-get install -y wrk)"}
    command = ["wrk", "-t1", f"-c{CLOSED_USERS}", f"-d{seconds}s", "--latency", url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout

    def ms(text: str) -> float:
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
        return round(float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 3)

    def percentile(label: str) -> float:
        return ms(re.search(rf"{label}\s+(\S+)", out)[1])  # type: ignore[index]

    # "Latency   avg   stdev   max   +/- stdev"
    latency_max = re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", out)[1]  # type: ignore[index]

    total = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    return {
        "command": " ".join(command),
        "requests": total,
        "achieved_rps": round(total / seconds, 1),
        "p50_ms": percentile("50%"),
        "p90_ms": percentile("90%"),
        "p99_ms": percentile("99%"),
        "max_ms": ms(latency_max),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rate", type=int, default=200)
    args = parser.parse_args()
    with running(Stall(every=5.0, duration=1.0)) as port:
        url = f"http://127.0.0.1:{port}/"
        results = {
            "server": "stalls 1 s every 5 s (bench/load_servers.py --stall-every 5 --stall-for 1)",
            "prodready_open": ours(url, args.rate, args.seconds, "prodready"),
            "prodready_locust_engine": ours(url, args.rate, args.seconds, "locust"),
            "locust_closed": locust_closed(url, args.seconds),
            "wrk_closed": wrk(url, args.seconds),
        }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "load_stall.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "load_stall.md").write_text(markdown(results))
    print(markdown(results))


def markdown(r: dict[str, Any]) -> str:
    lines = [
        f"# Latency under stalls: {r['server']}",
        "",
        "| client | model | req/s | p50 ms | p90 ms | p99 ms | max ms | command |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = (
        ("prodready load", "open", "prodready_open"),
        ("prodready --engine locust", "constant throughput", "prodready_locust_engine"),
        ("Locust users", "closed", "locust_closed"),
        ("wrk", "closed", "wrk_closed"),
    )
    for name, model, key in rows:
        x = r[key]
        if "p99_ms" not in x:
            lines.append(f"| {name} | {model} | - | - | - | - | - | {x['command']} |")
            continue
        lines.append(
            f"| {name} | {model} | {x['achieved_rps']} | {x['p50_ms']} | {x['p90_ms']} | "
            f"**{x['p99_ms']}** | {x['max_ms']} | `{x['command']}` |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
