"""Apply migrations to a table under concurrent write load; report the worst write latency.

    .venv/bin/python -m bench.apply_under_load [--rows N] [--lock-timeout-ms N] [--writers N]

The issue's bar: applying an index to a busy table blocks no write for longer than
`lock_timeout`. The run: a throwaway cluster, a table of `--rows` rows, `--writers` threads
doing single-row INSERT/UPDATE in autocommit on loopback (bounded in time), a reporting
transaction that holds ACCESS SHARE for a few seconds (so a DDL lock must wait and time
out), and `prodready apply` of three migrations: CREATE INDEX CONCURRENTLY, an ALTER
POLICY (needs ACCESS EXCLUSIVE), and DROP INDEX CONCURRENTLY. Each write's latency is
recorded; the report gives p50/p99/max during the apply and the apply's own log.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from prodready.pg.cluster import LocalCluster

RESULTS = Path(__file__).parent / "results"
MIGRATIONS = {
    "0001_add_index_events_account_id_idx": (
        "-- prodready:transactional=false\n"
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "events_account_id_idx" '
        'ON "public"."events" ("account_id");\n',
        "-- prodready:transactional=false\n"
        'DROP INDEX CONCURRENTLY IF EXISTS "public"."events_account_id_idx";\n',
    ),
    "0002_rewrite_policy_events": (
        'ALTER POLICY "own events" ON "public"."events" '
        "USING (account_id = (SELECT current_setting('app.account')::bigint));\n",
        'ALTER POLICY "own events" ON "public"."events" '
        "USING (account_id = current_setting('app.account')::bigint);\n",
    ),
    "0003_drop_index_events_kind_idx": (
        "-- prodready:transactional=false\n"
        'DROP INDEX CONCURRENTLY IF EXISTS "public"."events_kind_idx";\n',
        "-- prodready:transactional=false\n"
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "events_kind_idx" '
        'ON "public"."events" ("kind");\n',
    ),
}


@dataclass
class Writes:
    latencies_ms: list[tuple[float, float]] = field(default_factory=list)  # (started_at, ms)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    with LocalCluster() as cluster:
        dsn = cluster.dsn("postgres")
        _load(dsn, args.rows)
        with tempfile.TemporaryDirectory(prefix="prodready-apply-bench-") as tmp:
            directory = Path(tmp)
            for name, (up, down) in MIGRATIONS.items():
                (directory / f"{name}.up.sql").write_text(up)
                (directory / f"{name}.down.sql").write_text(down)
            result = _run(dsn, directory, args)
    _report(result, args)
    return 0 if result["max_write_ms"] <= args.lock_timeout_ms * 1.5 + 50 else 1


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--lock-timeout-ms", type=int, default=500)
    parser.add_argument("--reader-hold-s", type=float, default=8.0)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    return parser.parse_args(argv)


def _load(dsn: str, rows: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE events (id bigserial PRIMARY KEY, account_id bigint NOT NULL,"
            " kind text NOT NULL, payload text, created_at timestamptz DEFAULT now())"
        )
        conn.execute(
            "INSERT INTO events (account_id, kind, payload)"
            " SELECT (random() * 50000)::bigint, 'k' || (g %% 20), repeat('x', 40)"
            " FROM generate_series(1, %s) g",
            (rows,),
        )
        conn.execute("CREATE INDEX events_kind_idx ON events (kind)")
        conn.execute("ALTER TABLE events ENABLE ROW LEVEL SECURITY")
        conn.execute(
            'CREATE POLICY "own events" ON events'
            " USING (account_id = current_setting('app.account')::bigint)"
        )
        conn.execute("VACUUM ANALYZE events")


def _writer(dsn: str, stop: threading.Event, writes: Writes, seed: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        n = seed
        while not stop.is_set():
            n += 1
            started = time.perf_counter()
            try:
                if n % 2:
                    conn.execute(
                        "INSERT INTO events (account_id, kind) VALUES (%s, 'k1')", (n % 50000,)
                    )
                else:
                    row = n * 7919 % 1000 + 1
                    conn.execute("UPDATE events SET payload = 'y' WHERE id = %s", (row,))
            except psycopg.Error as exc:
                writes.errors.append(str(exc).splitlines()[0])
                continue
            elapsed = (time.perf_counter() - started) * 1000
            with writes.lock:
                writes.latencies_ms.append((started, elapsed))


def _reader(dsn: str, hold_s: float, started: threading.Event) -> None:
    """A report query's transaction: holds ACCESS SHARE, so ACCESS EXCLUSIVE must wait."""
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT count(*) FROM events")
        started.set()
        time.sleep(hold_s)
        conn.rollback()


def _run(dsn: str, directory: Path, args: argparse.Namespace) -> dict[str, object]:
    writes, stop = Writes(), threading.Event()
    writers = [
        threading.Thread(target=_writer, args=(dsn, stop, writes, i * 1_000_000), daemon=True)
        for i in range(args.writers)
    ]
    for thread in writers:
        thread.start()
    time.sleep(1.0)  # writers warm up
    reader_started = threading.Event()
    reader = threading.Thread(target=_reader, args=(dsn, args.reader_hold_s, reader_started))
    reader.start()
    reader_started.wait(10)
    command = [
        str(Path(sys.executable).with_name("prodready")),
        "apply",
        str(directory),
        "--db",
        dsn,
        "--lock-timeout",
        f"{args.lock_timeout_ms}ms",
        "--retries",
        "20",
    ]
    apply_start = time.perf_counter()
    try:
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=args.max_seconds, check=False
        )
    finally:
        apply_end = time.perf_counter()
        time.sleep(0.5)
        stop.set()
        for thread in writers:
            thread.join(10)
        reader.join(30)
    during = [ms for at, ms in writes.latencies_ms if apply_start <= at <= apply_end]
    return {
        "apply_exit": proc.returncode,
        "apply_output": (proc.stdout + proc.stderr).strip().splitlines()[-12:],
        "apply_seconds": round(apply_end - apply_start, 2),
        "writes_during_apply": len(during),
        "p50_write_ms": round(statistics.median(during), 2) if during else None,
        "p99_write_ms": round(_percentile(during, 0.99), 2) if during else None,
        "max_write_ms": round(max(during), 1) if during else 0.0,
        "write_errors": len(writes.errors),
        "first_error": writes.errors[0] if writes.errors else None,
        "lock_timeout_ms": args.lock_timeout_ms,
        "rows": args.rows,
        "writers": args.writers,
        "reader_hold_s": args.reader_hold_s,
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _report(result: dict[str, object], args: argparse.Namespace) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "apply_under_load.json").write_text(json.dumps(result, indent=2) + "\n")
    for key, value in result.items():
        if key != "apply_output":
            print(f"{key:>20}: {value}")
    print("apply output (tail):")
    for line in result["apply_output"]:  # type: ignore[union-attr]
        print(f"  {line}")


if __name__ == "__main__":
    raise SystemExit(main())
