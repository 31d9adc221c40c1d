"""Web-app index-advisor benchmark: the demo marketplace's API workload before and after advice.

    .venv/bin/python -m bench.webapp_advisor [--scale 1.0] [--calls 2000] [--repeat 20]

Loads the demo marketplace into a throwaway cluster and replays its API traffic so that
pg_stat_statements looks like production. Then it feeds the advisor twice: from the literal
statements (the workload written as a SQL file with `-- weight:` lines) and from
pg_stat_statements (normalised `$n` statements the advisor must fill with realistic values).
Each recommended set is built for real and the weighted workload is timed with the same
parameters as before: each API query runs `--repeat` times, as its role (RLS applies), each
call rolled back so every pass sees the same data; the weighted total is the sum of
weight x mean time (weights are calls per minute, so it reads as database milliseconds per
minute of traffic). Results go to bench/results/webapp_advisor.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.numeric import Int8BinaryDumper, Int8Dumper

from bench.tpch import advisor, whatif
from bench.tpch.whatif import Statement
from prodready.advisor.model import AdvisorResult, BoundQuery, WorkloadQuery
from prodready.demo import (
    WORKLOAD,
    ApiQuery,
    Samples,
    load_data,
    load_schema,
    reset_statement_stats,
    run_workload,
    write_workload_sql,
)
from prodready.demo.workload import DEFAULT_CALLS, SERVICE
from prodready.pg.cluster import LocalCluster
from prodready.sqlgen import render

RESULTS = Path(__file__).parent / "results"
DATABASE = "marketplace"
API_ROLE = "authenticator"
SPEEDUP_GOAL = 10.0
HAND_WRITTEN = "hand_written"
CALL_TIMEOUT_MS = 30_000
TIMING_SEED = 11
LITERAL_SAMPLES = 3  # parameter sets per API query in the literal workload file
# autovacuum off: statistics change only when the benchmark runs ANALYZE, so plans stay
# comparable between the before and after runs.
SETTINGS = {"autovacuum": "off", "shared_buffers": "'1GB'"}

Log = Callable[[str], None]
Plan = list[tuple[ApiQuery, list[dict[str, Any]]]]


@dataclass
class Config:
    scale: float = 1.0
    calls: int = DEFAULT_CALLS  # API calls replayed to populate pg_stat_statements
    repeat: int = 20  # executions per API query in one pass
    passes: int = 3  # timed passes; per query the median of the passes' means counts
    as_owner: bool = False  # time every call as the table owner (no RLS): a diagnostic
    advisor: bool = True


@dataclass
class App:
    """The loaded marketplace: the superuser DSN and the API's login DSN."""

    dsn: str
    api_dsn: str


# -- the story -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    config = _parse(argv)
    started = time.perf_counter()
    with LocalCluster(settings=SETTINGS) as cluster:
        app = prepare(cluster, config, log=_log)
        result = run(app, config, log=_log)
    result["total_s"] = round(time.perf_counter() - started, 1)
    markdown = render_markdown(result)
    RESULTS.mkdir(exist_ok=True)
    stem = "webapp_advisor" if config.scale == 1 else f"webapp_advisor_scale{config.scale:g}"
    stem += "_as_owner" if config.as_owner else ""
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{stem}.md").write_text(markdown)
    print(markdown)
    return 0


def prepare(
    cluster: LocalCluster, config: Config, *, database: str = DATABASE, log: Log = print
) -> App:
    """Create and load the marketplace, replay its traffic, and settle its statistics."""
    password = secrets.token_urlsafe(18)
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        # as the demo does: JIT would dominate the unindexed scans' time on two cores
        conn.execute(sql.SQL("ALTER DATABASE {} SET jit = off").format(sql.Identifier(database)))
    app = App(cluster.dsn(database), cluster.dsn(database, user=API_ROLE, password=password))
    with psycopg.connect(app.dsn, autocommit=True) as conn:
        load_schema(conn)
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(API_ROLE), sql.Literal(password)
            )
        )
        whatif.ensure_hypopg(conn)
        started = time.perf_counter()
        load_data(conn, config.scale)
        log(f"loaded scale {config.scale:g} in {time.perf_counter() - started:.0f}s")
        reset_statement_stats(conn)
    done = run_workload(app.dsn, app.api_dsn, calls=config.calls)
    log(f"replayed {done.total_calls} API calls in {done.seconds:.0f}s")
    with psycopg.connect(app.dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return app


def run(app: App, config: Config, *, log: Log = print) -> dict[str, Any]:
    """Advice from each feed, costed on one yardstick; then before/after timings of each set.

    Every what-if cost is taken before anything is built or timed: the timed passes roll
    back their writes, but they still leave dead rows that would shift later estimates.
    """
    feeds: dict[str, list[WorkloadQuery]] = {}
    with tempfile.TemporaryDirectory(prefix="prodready-webapp-") as tmp:
        literal_file = Path(tmp) / "workload.sql"
        with psycopg.connect(app.dsn, autocommit=True) as conn:
            # the statements are read before our own timing runs add to pg_stat_statements
            wanted = config.advisor and advisor.available()
            pgss = advisor.from_pg_stat_statements(conn) if wanted else []
            write_workload_sql(conn, literal_file, per_query=LITERAL_SAMPLES)
            samples = Samples.load(conn)
        yardstick = literal_statements(literal_file.read_text())
        if wanted:
            feeds = {"literal": advisor.from_sql_file(literal_file), "pg_stat_statements": pgss}

    result: dict[str, Any] = _header(app, config, yardstick)
    if config.advisor and not wanted:
        result["notes"].append("prodready.advisor.engine is not importable: advisor skipped")
    base_cost = _yardstick_cost(app, yardstick, [])
    result["estimated_cost_before"] = round(base_cost, 2)
    sets: dict[str, dict[str, Any]] = {}
    for name, queries in feeds.items():
        try:
            sets[name] = _advise(app, name, queries, log)
        except Exception as exc:  # a crash of the engine is a finding; report it, go on
            result.setdefault("advisor_errors", {})[name] = advisor.describe_error(exc)
            log(f"{name}: advisor failed: {exc}")
    sets[HAND_WRITTEN] = {"definitions": hand_written_indexes()}
    for entry in sets.values():
        cost = _yardstick_cost(app, yardstick, entry["definitions"])
        entry["estimated_cost_after"] = round(cost, 2)
        entry["shapes"] = sorted(whatif.shape(d) for d in entry["definitions"])

    plan = timing_plan(samples, config.repeat)
    before = time_workload(app, plan, config.passes, as_owner=config.as_owner)
    result["before"] = before
    log(f"before: weighted workload {before['weighted_ms']:.0f} ms per minute of traffic")
    for name, entry in sets.items():
        entry.update(_apply(app, entry["definitions"], plan, before, config))
        after_ms, speedup = entry["after"]["weighted_ms"], entry["speedup"] or 0
        log(f"{name}: weighted workload {after_ms:.0f} ms, speedup {speedup:.1f}x")
    result["feeds"] = {k: v for k, v in sets.items() if k != HAND_WRITTEN}
    result[HAND_WRITTEN] = sets[HAND_WRITTEN]
    result["comparison"] = _compare(result["feeds"])
    return result


def _header(app: App, config: Config, yardstick: list[Statement]) -> dict[str, Any]:
    with psycopg.connect(app.dsn, autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        rows = conn.execute(
            "SELECT relname, reltuples::bigint FROM pg_class"
            " WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' ORDER BY relname"
        ).fetchall()
    return {
        "benchmark": "webapp_advisor",
        "scale": config.scale,
        "calls_replayed": config.calls,
        "repeat": config.repeat,
        "passes": config.passes,
        "timed_as": "table owner (no RLS)" if config.as_owner else "each query's role (RLS)",
        "machine": {"cores": os.cpu_count()},
        "server_version": version[0] if version else None,
        "rows": {str(name): int(n) for name, n in rows},
        "weights": {q.name: q.weight for q in WORKLOAD},
        "yardstick_statements": len(yardstick),
        "speedup_goal": SPEEDUP_GOAL,
        "notes": [],
    }


# -- one advisor feed ----------------------------------------------------------------------------


def _advise(app: App, name: str, queries: list[WorkloadQuery], log: Log) -> dict[str, Any]:
    """Bind and advise (what-if only: nothing is built here)."""
    with psycopg.connect(app.dsn, autocommit=True) as conn:
        bound, skipped = advisor.bind(conn, queries)
    found = advisor.advise(app.dsn, bound, skipped)
    log(
        f"{name}: {len(queries)} statements, {len(bound)} bound, {len(found.indexes)} indexes"
        f" in {found.elapsed_s:.1f}s ({found.whatif_calls} planner calls)"
    )
    return {
        "statements": len(queries),
        "bound": _bind_methods(bound),
        "skipped": [s.to_json() for s in found.skipped],
        "definitions": [i.definition for i in found.indexes],
        "drops": [d.to_json() for d in found.drops],
        "estimated_bytes": sum(i.estimated_bytes for i in found.indexes),
        "engine": _engine_stats(found),
        "recommendations": [i.to_json() for i in found.indexes],
    }


def _yardstick_cost(app: App, yardstick: list[Statement], definitions: list[str]) -> float:
    with psycopg.connect(app.dsn, autocommit=True) as conn:
        whatif.set_timeout(conn, whatif.EXPLAIN_TIMEOUT_MS)
        return whatif.weighted_total(yardstick, whatif.costs(conn, yardstick, definitions))


def _apply(
    app: App, definitions: list[str], plan: Plan, before: dict[str, Any], config: Config
) -> dict[str, Any]:
    """Build the set for real, time the workload, drop the set again."""
    with psycopg.connect(app.dsn, autocommit=True) as conn:
        built = whatif.build(conn, definitions)
    try:
        after = time_workload(app, plan, config.passes, as_owner=config.as_owner)
    finally:
        with psycopg.connect(app.dsn, autocommit=True) as conn:
            whatif.drop(conn, built)
    speedup = before["weighted_ms"] / after["weighted_ms"] if after["weighted_ms"] else None
    return {
        "real_bytes": built.bytes,
        "built": built.to_json(),
        "after": after,
        "speedup": None if speedup is None else round(speedup, 2),
    }


def hand_written_indexes() -> list[str]:
    """What a developer adds after reading the audit: one index per unindexed foreign key the
    workload joins or filters on. Context for the advisor's figures, not a goal."""
    keys = [
        ("orders", "buyer_id"),
        ("order_items", "order_id"),
        ("order_items", "product_id"),
        ("reviews", "product_id"),
        ("messages", "recipient_id"),
        ("messages", "product_id"),
        ("favorites", "product_id"),
    ]
    return [
        render(
            sql.SQL("CREATE INDEX ON {} ({})").format(
                sql.Identifier("public", table), sql.Identifier(column)
            )
        )
        for table, column in keys
    ]


def _bind_methods(bound: list[BoundQuery]) -> dict[str, int]:
    methods: dict[str, int] = {}
    for query in bound:
        methods[query.method] = methods.get(query.method, 0) + 1
    return methods


def _engine_stats(found: AdvisorResult) -> dict[str, Any]:
    rate = advisor.hit_rate(found)
    return {
        "elapsed_s": round(found.elapsed_s, 2),
        "whatif_calls": found.whatif_calls,
        "cache_hits": found.cache_hits,
        "cache_hit_rate": None if rate is None else round(rate, 3),
        "statements": found.statements,
        "explained": found.explained,
        "workload_cost_before": round(found.workload_cost_before, 2),
        "workload_cost_after": round(found.workload_cost_after, 2),
        "notes": found.notes,
    }


def _compare(feeds: dict[str, Any]) -> dict[str, Any]:
    if not {"literal", "pg_stat_statements"} <= feeds.keys():
        return {}
    literal, pgss = (set(feeds[k]["shapes"]) for k in ("literal", "pg_stat_statements"))
    return {
        "same_indexes": literal == pgss,
        "only_literal": sorted(literal - pgss),
        "only_pg_stat_statements": sorted(pgss - literal),
        "speedup_ratio_pgss_vs_literal": _ratio(
            feeds["pg_stat_statements"]["speedup"], feeds["literal"]["speedup"]
        ),
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 3)


# -- the yardstick: literal statements ----------------------------------------------------------

_HEADER = re.compile(r"^-- (name|role|weight): (.+)$")


def literal_statements(text: str) -> list[Statement]:
    """The statements of a `write_workload_sql` file, named and weighted, to cost index sets."""
    statements: list[Statement] = []
    meta: dict[str, str] = {}
    body: list[str] = []
    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            meta[header.group(1)] = header.group(2).strip()
        elif line.startswith("--") or (not line.strip() and not body):
            continue
        else:
            body.append(line)
            if line.rstrip().endswith(";"):
                name = f"{meta.get('name', 'q')}#{len(statements) + 1}"
                sql_text = "\n".join(body).rstrip().rstrip(";")
                statements.append(Statement(name, sql_text, float(meta.get("weight", 1))))
                meta, body = {}, []
    return statements


# -- real execution ------------------------------------------------------------------------------


def timing_plan(samples: Samples, repeat: int) -> Plan:
    """`repeat` parameter sets per API query, fixed once so before and after run the same."""
    rng = random.Random(TIMING_SEED)
    return [(q, [q.params(rng, samples) for _ in range(repeat)]) for q in WORKLOAD]


def time_workload(
    app: App, plan: Plan, passes: int = 3, *, as_owner: bool = False
) -> dict[str, Any]:
    """A warm-up pass, then `passes` timed passes; every call rolled back so the data never
    drifts. Per query, the median over the passes of its mean time: robust to a noisy
    neighbour on a small machine, and still a mean over each pass's parameters."""
    with _connect(app.dsn) as service, _connect(app.api_dsn) as api:
        api = service if as_owner else api
        _pass(service, api, plan)
        runs = [_pass(service, api, plan) for _ in range(passes)]
        # the rolled-back writes left dead rows: the next index set must not scan them
        service.execute("VACUUM")
    per_query = {}
    for query, _ in plan:
        means = [statistics.fmean(run[query.name]) for run in runs]
        per_query[query.name] = {
            "weight": query.weight,
            "mean_ms": round(statistics.median(means), 3),
            "pass_means_ms": [round(m, 3) for m in means],
        }
    weighted = sum(v["weight"] * v["mean_ms"] for v in per_query.values())
    by_pass = [
        round(sum(q.weight * statistics.fmean(run[q.name]) for q, _ in plan), 1) for run in runs
    ]
    return {"per_query": per_query, "weighted_ms": round(weighted, 2), "weighted_by_pass": by_pass}


def _pass(
    service: psycopg.Connection, api: psycopg.Connection, plan: Plan
) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {}
    for query, param_sets in plan:
        for params in param_sets:
            seconds = _timed_call(service, api, query, params)
            timings.setdefault(query.name, []).append(1000 * seconds)
    return timings


def _timed_call(
    service: psycopg.Connection, api: psycopg.Connection, query: ApiQuery, params: dict[str, Any]
) -> float:
    """Seconds of the API statement alone, run the way demo.workload runs it (role switch and
    JWT claim as transaction-local settings, so RLS applies), inside a rolled-back transaction.
    The role switch is not timed: it is the gateway's cost, the same with or without indexes."""
    conn = service if query.role == SERVICE else api
    with conn.transaction(force_rollback=True), conn.cursor() as cur:
        if conn is not service:
            uid = params.get("uid")
            cur.execute(
                "SELECT set_config('role', %s, true),"
                " set_config('request.jwt.claim.sub', %s, true)",
                (query.role, "" if uid is None else str(uid)),
            )
        started = time.perf_counter()
        cur.execute(query.sql, params)
        if cur.description:
            cur.fetchall()
        return time.perf_counter() - started


def _connect(dsn: str) -> psycopg.Connection:
    """A session like the demo's API client: every int sent as bigint, a statement timeout."""
    conn = psycopg.connect(dsn, autocommit=True)
    conn.adapters.register_dumper(int, Int8Dumper)
    conn.adapters.register_dumper(int, Int8BinaryDumper)
    whatif.set_timeout(conn, CALL_TIMEOUT_MS)
    return conn


# -- rendering ---------------------------------------------------------------------------------


def render_markdown(result: dict[str, Any]) -> str:
    sets = _all_sets(result)
    lines = [
        f"# Web-app index advisor benchmark (demo marketplace, scale {result['scale']:g})",
        "",
        f"PostgreSQL {result['server_version']}, {result['machine']['cores']} cores;"
        f" {result['calls_replayed']} API calls replayed to fill pg_stat_statements; each API"
        f" query runs {result['repeat']} times per pass with the same parameters before and"
        f" after (warm cache, as its role, rolled back), {result.get('passes', 1)} timed passes"
        " (per query the median of the passes' means). Timed as"
        f" {result.get('timed_as', 'each query role')}. Weighted = sum of weight x mean ms"
        " (database ms per minute of traffic). Estimated cost: the literal statements'"
        " EXPLAIN costs x weight, HypoPG what-if, the same yardstick for every set.",
        "",
        "| index set | indexes | estimated cost | weighted ms | speedup | planner calls"
        " | cache hit rate | advisor s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| before (no advice) | - | {result['estimated_cost_before']:,.0f} |"
        f" {result['before']['weighted_ms']:,.1f} | 1.0x | - | - | - |",
    ]
    for name, entry in sets.items():
        engine = entry.get("engine", {})
        rate = engine.get("cache_hit_rate")
        lines.append(
            f"| {name} | {len(entry['definitions'])} | {entry['estimated_cost_after']:,.0f} |"
            f" {entry['after']['weighted_ms']:,.1f} | {entry['speedup']}x |"
            f" {engine.get('whatif_calls', '-')} |"
            f" {'-' if rate is None else f'{100 * rate:.1f} %'} | {engine.get('elapsed_s', '-')} |"
        )
    lines += ["", *_per_query_table(result, sets), "", *_sets(sets, result.get("comparison", {}))]
    lines += [f"- note: {n}" for n in result.get("notes", [])]
    for name, error in result.get("advisor_errors", {}).items():
        lines.append(f"- **the advisor failed on the {name} feed**: `{error['error']}`")
    return "\n".join(lines).rstrip() + "\n"


def _all_sets(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    sets = dict(result.get("feeds", {}))
    if result.get(HAND_WRITTEN):
        sets["hand-written FK indexes"] = result[HAND_WRITTEN]
    return sets


def _per_query_table(result: dict[str, Any], sets: dict[str, dict[str, Any]]) -> list[str]:
    header = ["query", "weight", "before ms", *[f"{n} ms" for n in sets]]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for name, before in result["before"]["per_query"].items():
        cells = [name, str(before["weight"]), f"{before['mean_ms']:.2f}"]
        cells += [f"{e['after']['per_query'][name]['mean_ms']:.2f}" for e in sets.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _sets(sets: dict[str, dict[str, Any]], comparison: dict[str, Any]) -> list[str]:
    lines = []
    for name, entry in sets.items():
        built = entry.get("built", {})
        created = ", ".join(built.get("extensions_created", []))
        extra = f"; created extension {created} for it" if created else ""
        lines.append(f"**{name}** ({entry['real_bytes'] / 1024 / 1024:.1f} MB built{extra}):")
        confidence = {r["definition"]: r["confidence"] for r in entry.get("recommendations", [])}
        for definition in entry["definitions"]:
            flags = [c for c in [confidence.get(definition)] if c and c != "validated"]
            if definition in built.get("failed", {}):
                flags.append(f"not built: {built['failed'][definition]}")
            lines.append(f"- `{definition}`" + (f" ({'; '.join(flags)})" if flags else ""))
        if not entry["definitions"]:
            lines.append("- (none)")
        lines.append("")
    if comparison:
        same = "yes" if comparison["same_indexes"] else "no"
        lines.append(f"Same index set from both feeds: {same}.")
        for key in ("only_literal", "only_pg_stat_statements"):
            lines += [f"- {key.replace('_', ' ')}: `{s}`" for s in comparison[key]]
    return lines


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _parse(argv: list[str] | None) -> Config:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--calls", type=int, default=DEFAULT_CALLS)
    parser.add_argument("--repeat", type=int, default=20, help="calls per query per pass")
    parser.add_argument("--passes", type=int, default=3, help="timed passes (median)")
    parser.add_argument("--no-advisor", action="store_true")
    parser.add_argument(
        "--as-owner",
        action="store_true",
        help="diagnostic: time every call as the table owner, so RLS does not apply",
    )
    args = parser.parse_args(argv)
    return Config(
        scale=args.scale,
        calls=args.calls,
        repeat=args.repeat,
        passes=args.passes,
        advisor=not args.no_advisor,
        as_owner=args.as_owner,
    )


if __name__ == "__main__":
    sys.exit(main())
