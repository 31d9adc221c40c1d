"""The Locust engine: the same scenario on Locust, a headless master and N local workers.

Locust is run, not rewritten: a generated locustfile, subprocesses bounded by the scenario's
duration (killed by PID if they outlive it), and its CSV stats read back into a LoadRun.
"""

from __future__ import annotations

import csv
import math
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from prodready.errors import TargetError
from prodready.load.collect import preflight
from prodready.load.locustfile import locust_plan, render_locustfile
from prodready.load.pipeline import LoadOptions, Plan
from prodready.load.result import EndpointResult, Latency, LoadRun
from prodready.load.scenario import Scenario
from prodready.load.target import Target, parse_url
from prodready.pg.cluster import free_port

STARTUP_GRACE_S = 60.0  # workers connecting, gevent start-up, the summary at the end
_CPU_WARNING = "CPU usage above 90%"
_COLUMNS = {"p50": "50%", "p90": "90%", "p95": "95%", "p99": "99%", "max": "100%"}


def _locust() -> list[str]:
    return [sys.executable, "-m", "locust"]


def run_locust(
    scenario: Scenario, target: Target, *, workers: int, percentiles: tuple[float, ...] = ()
) -> LoadRun:
    """Run Locust headless (master + `workers` local workers) and read its stats back."""
    preflight(target, timeout=min(scenario.timeout_s, 10.0))
    with tempfile.TemporaryDirectory(prefix="prodready-locust-") as tmp:
        folder = Path(tmp)
        locustfile = folder / "locustfile.py"
        locustfile.write_text(render_locustfile(scenario, target.base_path))
        port = free_port()
        host = f"{target.scheme}://{target.host_header}"
        stop_timeout = str(math.ceil(scenario.timeout_s))
        master = [*_locust(), "-f", str(locustfile), "--headless", "--host", host,
                  "--csv", str(folder / "stats"), "--only-summary", "--loglevel", "WARNING",
                  "--exit-code-on-error", "0", "--stop-timeout", stop_timeout]  # fmt: skip
        if workers > 0:
            master += ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port",
                       str(port), "--expect-workers", str(workers)]  # fmt: skip
        worker = [*_locust(), "-f", str(locustfile), "--worker", "--master-host", "127.0.0.1",
                  "--master-port", str(port), "--loglevel", "WARNING"]  # fmt: skip
        log = (folder / "master.log").open("w+")
        procs: list[subprocess.Popen[bytes]] = []
        interrupted = False
        try:
            procs.append(subprocess.Popen(master, stdout=log, stderr=subprocess.STDOUT, cwd=tmp))
            procs += [
                subprocess.Popen(worker, stdout=subprocess.DEVNULL, stderr=log, cwd=tmp)
                for _ in range(workers)
            ]
            try:
                procs[0].wait(timeout=scenario.duration + scenario.timeout_s + STARTUP_GRACE_S)
            except subprocess.TimeoutExpired:
                raise TargetError(
                    "Locust did not finish in time; its processes were killed"
                ) from None
            except KeyboardInterrupt:  # Ctrl-C: Locust writes its stats as it stops
                interrupted = True
        finally:
            for proc in procs:
                _stop(proc)
            log.seek(0)
            output = log.read()
            log.close()
        return read_stats(folder / "stats", scenario, target, output, percentiles, interrupted)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End one of our Locust processes, by its PID: politely, then for sure."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def read_stats(
    prefix: Path,
    scenario: Scenario,
    target: Target,
    output: str,
    percentiles: tuple[float, ...],
    interrupted: bool = False,
) -> LoadRun:
    """Locust's `_stats.csv` and `_failures.csv` as a LoadRun (its percentiles are rounded).

    After Ctrl-C the run covers the time Locust ran (its requests over its rate), and what
    was due after the interrupt is neither offered nor dropped."""
    stats_file = prefix.with_name(prefix.name + "_stats.csv")
    if not stats_file.exists():
        last = [line for line in output.splitlines() if line.strip()][-1:] or ["no output"]
        raise TargetError(f"Locust wrote no statistics: {last[0][:200]}")
    with stats_file.open(newline="") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    failures = _failures(prefix.with_name(prefix.name + "_failures.csv"))
    endpoints = []
    for e in scenario.endpoints:
        row = rows.get(e.name)
        count = int(row["Request Count"]) if row else 0
        endpoints.append(
            EndpointResult(
                name=e.name,
                method=e.method,
                path=e.path,
                requests=count,
                errors=int(row["Failure Count"]) if row else 0,
                errors_by_status=failures.get(e.name, {}),
                latency=_latency(row),
                extra_percentiles=_extra(row, percentiles),
            )
        )
    overall = rows.get("Aggregated")
    requests = int(overall["Request Count"]) if overall else 0
    by_status: dict[str, int] = {}
    for per_endpoint in failures.values():
        for status, n in per_endpoint.items():
            by_status[status] = by_status.get(status, 0) + n
    scheduled, duration = scenario.total_requests, scenario.duration
    rate = float(overall["Requests/s"]) if overall else 0.0
    if interrupted:
        duration = requests / rate if rate > 0 else 0.0
        scheduled = requests
    achieved = requests / duration if duration else 0.0
    return LoadRun(
        target=target.url,
        engine="locust",
        scenario=scenario.name,
        duration_s=round(duration, 3),
        elapsed_s=round(duration, 3),
        scheduled=scheduled,
        requests=requests,
        # what the users could not send at their pace: Locust waits for each answer
        dropped=max(scheduled - requests, 0),
        errors=int(overall["Failure Count"]) if overall else 0,
        errors_by_status=by_status,
        latency=_latency(overall),
        endpoints=tuple(endpoints),
        client_limited=_CPU_WARNING in output
        and achieved < 0.95 * scenario.total_requests / scenario.duration,
        interrupted=interrupted,
        max_connections=locust_plan(scenario).users,
        extra_percentiles=_extra(overall, percentiles),
    )


def _latency(row: dict[str, str] | None) -> Latency:
    if not row or not int(row["Request Count"]):
        return Latency()
    values = {k: _float(row.get(column)) for k, column in _COLUMNS.items()}
    values["max"] = _float(row.get("Max Response Time")) or values["max"]
    return Latency(mean=_float(row.get("Average Response Time")), **values)


def _extra(row: dict[str, str] | None, percentiles: tuple[float, ...]) -> dict[str, float]:
    if not row or not int(row["Request Count"]):
        return {}
    found = {}
    for p in percentiles:
        value = _float(row.get(f"{p:g}%"))
        if value is not None:
            found[f"p{p:g}"] = value
    return found


def _float(text: str | None) -> float | None:
    if text in (None, "", "N/A"):
        return None
    return round(float(text), 3)


def _failures(path: Path) -> dict[str, dict[str, int]]:
    """name -> {status or reason: count}, from Locust's error strings."""
    found: dict[str, dict[str, int]] = {}
    if not path.exists():
        return found
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            per = found.setdefault(row["Name"], {})
            key = _reason(row["Error"])
            per[key] = per.get(key, 0) + int(row["Occurrences"])
    return found


def _reason(error: str) -> str:
    if match := re.search(r"code=(\d{3})|\b(\d{3}) (?:Client|Server) Error", error):
        return match.group(1) or match.group(2)
    lowered = error.lower()
    for word, key in (("timeout", "timeout"), ("timed out", "timeout"), ("refused", "refused"),
                      ("reset", "reset"), ("ssl", "tls")):  # fmt: skip
        if word in lowered:
            return key
    return "error"


def worker_commands(options: LoadOptions, plan: Plan) -> str:
    """What to run to spread the load over other machines: the master here, workers there."""
    scheme, host, port, _ = parse_url(options.url)
    users = locust_plan(plan.scenario)
    url = f"{scheme}://{host}:{port}"
    export = ["prodready", "load", options.url, "--export", "locust", "locustfile.py"]
    if options.scenario:
        export[3:3] = ["--scenario", options.scenario]
    master = ["locust", "-f", "locustfile.py", "--headless", "--master", "--expect-workers", "N",
              "--host", url, "--csv", "stats"]  # fmt: skip
    worker = ["locust", "-f", "locustfile.py", "--worker", "--master-host", "MASTER_HOST"]
    lines = [
        f"# {plan.scenario.name}: {plan.scenario.total_requests} requests over "
        f"{plan.scenario.duration:g} s by {users.users} users at "
        f"{users.per_user_rate:.3g} req/s each",
        "# 1. write the locustfile (copy it to every machine):",
        shlex.join(export),
        "# 2. on this machine, the master (waits for N workers, then runs the stages):",
        shlex.join(master),
        "# 3. on each worker machine:",
        shlex.join(worker),
        "# then judge the run: the master's stats_stats.csv has the percentiles",
    ]
    return "\n".join(lines)
