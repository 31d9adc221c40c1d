"""TPC-H data: generate it once with tpchgen-cli into a cache, load it with COPY, read the queries.

The CSV that `tpchgen-cli csv` writes has a header line, commas between fields and double
quotes around text that needs them, so `COPY ... (FORMAT csv, HEADER true)` reads it as is.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
from psycopg import sql

HERE = Path(__file__).parent
TABLES = ("region", "nation", "part", "supplier", "partsupp", "customer", "orders", "lineitem")
# Like the paper: q2, q17 and q20 have estimated costs that dwarf the rest of the workload.
EXCLUDED = ("q2", "q17", "q20")
CACHE = Path(os.environ.get("PRODREADY_BENCH_CACHE", Path.home() / ".cache" / "prodready-bench"))
COPY_CHUNK = 1 << 20
GENERATE_TIMEOUT_S = 1800


def cache_dir(scale: float) -> Path:
    """Where the CSV of one scale factor lives, outside the repository."""
    return CACHE / f"tpch-sf{scale:g}"


def tpchgen() -> Path:
    """The tpchgen-cli next to this interpreter (the venv), else on PATH."""
    beside = Path(sys.executable).parent / "tpchgen-cli"
    if beside.exists():
        return beside
    found = shutil.which("tpchgen-cli")
    if found is None:
        raise RuntimeError("tpchgen-cli is not installed: .venv/bin/pip install tpchgen-cli")
    return Path(found)


def generate(scale: float) -> Path:
    """The CSV directory for `scale`, generated on first use and reused afterwards."""
    target = cache_dir(scale)
    if all((target / f"{t}.csv").exists() for t in TABLES) and (target / ".complete").exists():
        return target
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    command = [str(tpchgen()), "csv", "-s", f"{scale:g}", "--output-dir", str(partial)]
    subprocess.run(command, check=True, capture_output=True, timeout=GENERATE_TIMEOUT_S)
    (partial / ".complete").write_text(f"tpchgen-cli csv -s {scale:g}\n")
    # a rename, so an interrupted run never leaves a half-written cache that looks complete
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def create_schema(conn: psycopg.Connection, *, keys: bool = False) -> None:
    """The eight tables with no keys (the paper's variant), or with keys.sql too."""
    conn.execute((HERE / "schema.sql").read_text())
    if keys:
        conn.execute((HERE / "keys.sql").read_text())


def load(dsn: str, data: Path, *, workers: int = 2) -> dict[str, float]:
    """COPY every table from the CSV directory (two sessions), then VACUUM ANALYZE.

    VACUUM sets the visibility map, as on a settled production table, so index-only scans
    are costed and executed the way they would be there. Returns seconds per step.
    """
    timings: dict[str, float] = {}
    # biggest first, so the two sessions finish at about the same time
    ordered = sorted(TABLES, key=lambda t: (data / f"{t}.csv").stat().st_size, reverse=True)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for table, seconds in zip(
            ordered, pool.map(lambda t: _copy(dsn, data, t), ordered), strict=True
        ):
            timings[f"copy {table}"] = seconds
    with psycopg.connect(dsn, autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute("VACUUM (FREEZE, ANALYZE)")
        timings["vacuum analyze"] = time.perf_counter() - started
    return timings


def _copy(dsn: str, data: Path, table: str) -> float:
    started = time.perf_counter()
    statement = sql.SQL("COPY {} FROM STDIN (FORMAT csv, HEADER true)").format(
        sql.Identifier(table)
    )
    with (
        psycopg.connect(dsn, autocommit=True) as conn,
        conn.cursor() as cur,
        cur.copy(statement) as copy,
        (data / f"{table}.csv").open("rb") as fh,
    ):
        while chunk := fh.read(COPY_CHUNK):
            copy.write(chunk)
    return time.perf_counter() - started


_BLOCK = re.compile(r"^-- (q\d+)\s*$", re.MULTILINE)


def queries(exclude: tuple[str, ...] = EXCLUDED) -> dict[str, str]:
    """The TPC-H queries of queries.sql by name (q1..q22), without the excluded ones."""
    parts = _BLOCK.split((HERE / "queries.sql").read_text())
    # parts = [preamble, name1, body1, name2, body2, ...]
    found = {parts[i]: parts[i + 1].strip().rstrip(";").strip() for i in range(1, len(parts), 2)}
    return {name: text for name, text in found.items() if name not in exclude}
