"""Hand-built snapshots for unit tests: every field has a harmless default."""

from __future__ import annotations

from typing import Any

from prodready.advisor.model import BoundQuery, WorkloadQuery
from prodready.db import snapshot as s

COLLECTED_AT = "2026-01-31T12:00:00+00:00"
STARTED_AT = "2026-01-01T00:00:00+00:00"


def server(**kw: Any) -> s.ServerInfo:
    base: dict[str, Any] = dict(
        version_num=150000, version="PostgreSQL 15.0", database="app", current_user="app",
        session_user="app", is_superuser=False, in_recovery=False,
        postmaster_start=STARTED_AT, collected_at=COLLECTED_AT,
    )  # fmt: skip
    return s.ServerInfo(**{**base, **kw})


def database(**kw: Any) -> s.DatabaseStats:
    base: dict[str, Any] = dict(
        name="app", size_bytes=10**9, conn_limit=-1, frozen_xid_age=1000, numbackends=5,
        xact_commit=10**6, xact_rollback=10, blks_read=1000, blks_hit=10**6, temp_files=0,
        temp_bytes=0, deadlocks=0, stats_reset=None,
    )  # fmt: skip
    return s.DatabaseStats(**{**base, **kw})


def table(name: str = "t", schema: str = "public", **kw: Any) -> s.Table:
    base: dict[str, Any] = dict(
        schema=schema, name=name, kind="r", owner="app", persistence="p", is_partition=False,
        rls_enabled=False, rls_forced=False, reloptions=[], acl=None, extension=None,
        reltuples=1000.0, relpages=10, total_bytes=81920, table_bytes=81920, frozen_xid_age=1000,
        has_primary_key=True, replica_identity="d", seq_scan=0, seq_tup_read=0, idx_scan=0,
        idx_tup_fetch=0, n_tup_ins=0, n_tup_upd=0, n_tup_del=0, n_tup_hot_upd=0, n_live_tup=1000,
        n_dead_tup=0, n_mod_since_analyze=0, n_ins_since_vacuum=0,
        last_analyze=STARTED_AT, last_autovacuum=STARTED_AT,
        vacuum_count=0, autovacuum_count=1, analyze_count=1, autoanalyze_count=0,
        heap_blks_read=0, heap_blks_hit=0,
    )  # fmt: skip
    return s.Table(**{**base, **kw})


def column(table: str, name: str, num: int = 1, schema: str = "public", **kw: Any) -> s.Column:
    base: dict[str, Any] = dict(
        schema=schema, table=table, name=name, num=num, type="integer", not_null=False,
        default=None, identity="", generated="", acl=None,
    )  # fmt: skip
    return s.Column(**{**base, **kw})


def index(
    name: str, table: str = "t", columns: list[str] | None = None, schema: str = "public",
    **kw: Any,
) -> s.Index:  # fmt: skip
    cols = columns or ["id"]
    base: dict[str, Any] = dict(
        schema=schema, table=table, name=name,
        definition=f"CREATE INDEX {name} ON {schema}.{table} USING btree ({', '.join(cols)})",
        method="btree", is_unique=False, is_primary=False, is_exclusion=False, is_valid=True,
        is_ready=True, is_live=True, constraint_name=None, constraint_type=None,
        n_key_columns=len(cols), attnums=list(range(1, len(cols) + 1)), columns=cols,
        options=[0] * len(cols), opclasses=["int4_ops"] * len(cols), collations=[None] * len(cols),
        predicate=None, size_bytes=8192, relpages=1, extension=None, idx_scan=0, idx_tup_read=0,
        idx_tup_fetch=0,
    )  # fmt: skip
    return s.Index(**{**base, **kw})


def constraint(name: str, table: str = "t", type: str = "f", **kw: Any) -> s.Constraint:
    base: dict[str, Any] = dict(
        schema="public", table=table, name=name, type=type, validated=True, columns=["id"],
        ref_schema=None, ref_table=None, ref_columns=None, definition="",
    )  # fmt: skip
    return s.Constraint(**{**base, **kw})


def setting(name: str, value: str, unit: str | None = None, **kw: Any) -> s.Setting:
    base: dict[str, Any] = dict(name=name, value=value, unit=unit, source="default",
                                vartype="string")  # fmt: skip
    return s.Setting(**{**base, **kw})


def role(name: str, **kw: Any) -> s.Role:
    base: dict[str, Any] = dict(
        name=name, superuser=False, bypassrls=False, login=False, inherit=True, createrole=False,
        createdb=False, replication=False, member_of=[],
    )  # fmt: skip
    return s.Role(**{**base, **kw})


def activity(pid: int = 42, **kw: Any) -> s.Activity:
    """An idle application session in this database; override what the test is about."""
    base: dict[str, Any] = dict(
        pid=pid, user="app", application_name="web", backend_type="client backend",
        state="idle", xact_age_s=None, query_age_s=10.0, state_age_s=10.0,
        wait_event_type=None, wait_event=None, query="SELECT 1", is_self=False,
        same_database=True,
    )  # fmt: skip
    return s.Activity(**{**base, **kw})


def literal_query(text: str, calls: float = 100.0) -> BoundQuery:
    """A literal workload statement, ready for the advisor (no parameters to bind)."""
    query = WorkloadQuery(fingerprint=text[:40], text=text, calls=calls, source="test.sql")
    return BoundQuery(query, text, "literal")


def snapshot(**kw: Any) -> s.Snapshot:
    """A snapshot with the given sections; server/database default to a healthy app."""
    kw.setdefault("server", server())
    kw.setdefault("database", database())
    return s.Snapshot(**kw)
