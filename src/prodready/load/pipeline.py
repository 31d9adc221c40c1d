"""`prodready load` as a story: scenario → bounds → target → run (and sample the db) →
thresholds → findings. Everything that can be refused is refused before the first request."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace

from prodready.errors import UsageError
from prodready.load.collect import Progress, run_open_model
from prodready.load.database import DatabaseSampler, DatabaseUnderLoad
from prodready.load.findings import load_findings
from prodready.load.profiles import rescale
from prodready.load.report import LoadReport
from prodready.load.result import LoadRun
from prodready.load.scenario import Scenario, load_scenario
from prodready.load.target import Target, parse_url, resolve_target
from prodready.load.thresholds import Threshold, evaluate, extra_percentiles, parse_thresholds

ENGINES = ("prodready", "locust")
MAX_REQUESTS = 5_000_000
MAX_DURATION_S = 4 * 3600.0


@dataclass(frozen=True)
class LoadOptions:
    """Everything `prodready load` was asked to do."""

    url: str
    scenario: str | None = None
    rate: float | None = None
    duration: float | None = None
    thresholds: tuple[str, ...] = ()
    allow_hosts: tuple[str, ...] = ()
    timeout_s: float | None = None
    connections: int | None = None
    max_requests: int = MAX_REQUESTS
    engine: str = "prodready"
    workers: int = 1
    db: str | None = None
    seed: int | None = None


@dataclass(frozen=True)
class Plan:
    """The checked inputs of a run: nothing here has touched the network yet."""

    scenario: Scenario
    thresholds: tuple[Threshold, ...]


def plan_load(options: LoadOptions) -> Plan:
    """Parse and bound the scenario and thresholds (no I/O but reading the scenario file)."""
    if options.engine not in ENGINES:
        raise UsageError(f"unknown engine {options.engine!r} (expected prodready or locust)")
    if options.rate is not None and options.rate <= 0:
        raise UsageError("--rate must be positive")
    _, _, _, path = parse_url(options.url)
    scenario = load_scenario(options.scenario, default_path=path)
    scenario = replace(
        scenario,
        stages=rescale(scenario.stages, rate=options.rate, duration=options.duration),
        timeout_s=options.timeout_s or scenario.timeout_s,
        connections=options.connections or scenario.connections,
    )
    exprs = (*scenario.thresholds, *options.thresholds)
    thresholds = tuple(parse_thresholds(exprs, [e.name for e in scenario.endpoints]))
    if scenario.total_requests > options.max_requests:
        raise UsageError(
            f"this run would send {scenario.total_requests} requests, more than --max-requests "
            f"{options.max_requests}; lower --rate or --duration, or raise --max-requests"
        )
    if scenario.duration > MAX_DURATION_S:
        raise UsageError(f"a run lasts at most {MAX_DURATION_S / 3600:g} h")
    if scenario.total_requests == 0:
        raise UsageError("this scenario sends no requests (every stage has rate 0)")
    return Plan(scenario, thresholds)


def run_load(
    options: LoadOptions, *, progress: Callable[[Progress], None] | None = None
) -> LoadReport:
    """Run the load test and judge it; the caller renders the report and sets the exit code."""
    plan = plan_load(options)
    target = resolve_target(options.url, options.allow_hosts)
    sampler = DatabaseSampler(options.db) if options.db else None
    with sampler if sampler is not None else contextlib.nullcontext():
        run = _engine(options, plan, target, progress)
    database = sampler.result() if sampler is not None else None
    return judge(run, plan.thresholds, database)


def judge(
    run: LoadRun, thresholds: tuple[Threshold, ...], database: DatabaseUnderLoad | None = None
) -> LoadReport:
    """Thresholds and findings for a finished run (pure)."""
    results = tuple(evaluate(thresholds, run))
    findings = tuple(load_findings(run, results, database))
    return LoadReport(run=run, thresholds=results, findings=findings, database=database)


def run_scenario(scenario: Scenario, url: str, thresholds: tuple[str, ...] = ()) -> LoadReport:
    """Run a scenario built in code (the demo's) against a loopback URL."""
    parsed = tuple(parse_thresholds(thresholds, [e.name for e in scenario.endpoints]))
    run = run_open_model(scenario, resolve_target(url), seed=1)
    return judge(run, parsed)


def _engine(
    options: LoadOptions,
    plan: Plan,
    target: Target,
    progress: Callable[[Progress], None] | None,
) -> LoadRun:
    percentiles = tuple(extra_percentiles(plan.thresholds))
    if options.engine == "locust":
        from prodready.load.locust import run_locust

        return run_locust(plan.scenario, target, workers=options.workers, percentiles=percentiles)
    return run_open_model(
        plan.scenario, target, progress=progress, seed=options.seed, percentiles=percentiles
    )
