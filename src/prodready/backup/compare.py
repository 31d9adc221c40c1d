"""Compare a restored database with its manifest: schema, row counts, smoke queries."""

from __future__ import annotations

import psycopg

from prodready.backup import inspect
from prodready.backup.model import DrillStep, Manifest

# Estimated counts (reltuples) are approximate by nature; a restore within this is faithful.
ESTIMATE_TOLERANCE = 0.10


def compare_restored(conn: psycopg.Connection, manifest: Manifest) -> list[DrillStep]:
    """Every comparison and smoke test of a restored database, in the order a person reads."""
    return [
        _schema_step(conn, manifest),
        _counts_step(conn, manifest),
        _readable_step(conn, manifest),
        _indexes_step(conn),
        _sequences_step(conn),
    ]


def _schema_step(conn: psycopg.Connection, manifest: Manifest) -> DrillStep:
    fingerprint, kinds, _ = inspect.schema_fingerprint(conn)
    if fingerprint == manifest.schema_fingerprint:
        total = sum(kinds.values())
        return DrillStep("schema", True, f"fingerprint matches ({total:,} objects)")
    differing = [
        f"{kind} {manifest.schema_objects.get(kind, 0)} -> {kinds.get(kind, 0)}"
        for kind in sorted(set(kinds) | set(manifest.schema_objects))
        if kinds.get(kind, 0) != manifest.schema_objects.get(kind, 0)
    ]
    detail = "; ".join(differing) if differing else "same object counts, different definitions"
    return DrillStep("schema", False, f"fingerprint differs from the manifest: {detail}")


def _counts_step(conn: psycopg.Connection, manifest: Manifest) -> DrillStep:
    present = inspect.user_tables(conn)
    mismatches = []
    for table in manifest.tables:
        if (table.schema, table.name) not in present:
            mismatches.append(f"{table.table} missing")
            continue
        rows = inspect.exact_count(conn, table.schema, table.name)
        if table.estimated:
            if abs(rows - table.rows) > max(1000, ESTIMATE_TOLERANCE * table.rows):
                mismatches.append(f"{table.table} {rows:,} rows, estimated ~{table.rows:,}")
        elif rows != table.rows:
            mismatches.append(f"{table.table} {rows:,} rows, manifest {table.rows:,}")
    if mismatches:
        shown = "; ".join(mismatches[:5]) + (" ..." if len(mismatches) > 5 else "")
        return DrillStep("row_counts", False, f"{len(mismatches)} table(s) differ: {shown}")
    estimated = sum(t.estimated for t in manifest.tables)
    note = f" ({estimated} within {ESTIMATE_TOLERANCE:.0%} of estimates)" if estimated else ""
    return DrillStep("row_counts", True, f"{len(manifest.tables)} tables match{note}")


def _readable_step(conn: psycopg.Connection, manifest: Manifest) -> DrillStep:
    failed = inspect.unreadable_tables(conn, manifest.tables)
    if failed:
        return DrillStep("tables_readable", False, "; ".join(failed[:5]))
    return DrillStep("tables_readable", True, f"{len(manifest.tables)} tables readable")


def _indexes_step(conn: psycopg.Connection) -> DrillStep:
    invalid = inspect.invalid_indexes(conn)
    if invalid:
        return DrillStep("indexes_valid", False, f"invalid: {', '.join(invalid[:5])}")
    return DrillStep("indexes_valid", True, "every index valid")


def _sequences_step(conn: psycopg.Connection) -> DrillStep:
    behind = inspect.sequences_behind(conn)
    if behind:
        return DrillStep("sequences_ahead", False, f"behind their column: {'; '.join(behind[:5])}")
    return DrillStep("sequences_ahead", True, "every owned sequence is ahead of its column")
