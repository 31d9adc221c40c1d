"""Helpers the table, index and query checks share: statistics age, partition trees,
autovacuum triggers, durations and small SQL snippets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from psycopg import sql

from prodready.db.snapshot import Snapshot, Table
from prodready.sqlgen import render

DAY_S = 86_400.0
MIB = 1024 * 1024


T = TypeVar("T")


def derived(snap: Snapshot, name: str, compute: Callable[[Snapshot], T]) -> T:
    """`compute(snap)`, computed once per snapshot and shared by every check that needs it."""
    if name not in snap.derived:
        snap.derived[name] = compute(snap)
    value: T = snap.derived[name]
    return value


def stats_evidence(snap: Snapshot) -> dict[str, Any]:
    """How long the activity counters have accumulated, for evidence that relies on them."""
    return {
        "stats_since": snap.stats_since,
        "stats_age_days": round(snap.stats_age_seconds / DAY_S, 2),
    }


class Partitions:
    """The partition tree of a snapshot, built once per check run."""

    def __init__(self, snap: Snapshot) -> None:
        self.children: dict[tuple[str, str], list[Table]] = {}
        for t in snap.tables:
            if t.parent_schema is not None and t.parent_name is not None:
                self.children.setdefault((t.parent_schema, t.parent_name), []).append(t)

    def leaves(self, table: Table) -> list[Table]:
        """Every leaf partition under a partitioned table (sub-partitions followed)."""
        found: list[Table] = []
        for child in self.children.get(table.ident, []):
            found.extend(self.leaves(child) if child.kind == "p" else [child])
        return found

    def rows(self, table: Table) -> int | None:
        """Estimated rows; a partitioned table counts its leaf partitions."""
        if table.kind != "p":
            return table_rows(table)
        counts = [r for leaf in self.leaves(table) if (r := table_rows(leaf)) is not None]
        return sum(counts) if counts else None


def table_rows(table: Table) -> int | None:
    """Estimated rows: reltuples once VACUUM/ANALYZE has run, else the live-row counter."""
    if table.reltuples >= 0:
        return int(table.reltuples)
    return table.n_live_tup


def ident(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def regclass_literal(schema: str, name: str) -> sql.Literal:
    """The quoted, qualified name as a string literal, ready for `::regclass`."""
    return sql.Literal(render(sql.Identifier(schema, name)))


def statements(parts: list[str]) -> str:
    """Several statements as one script, each on its own line and terminated."""
    return "\n".join(p if p.endswith(";") else f"{p};" for p in parts)


@dataclass(frozen=True)
class Trigger:
    threshold: float
    scale_factor: float
    value: float


def autovacuum_trigger(snap: Snapshot, table: Table, kind: str) -> Trigger:
    """autovacuum's trigger for `kind` ("vacuum" or "analyze"): threshold + scale x reltuples."""
    defaults = {"vacuum": (50.0, 0.2), "analyze": (50.0, 0.1)}[kind]
    threshold_name = f"autovacuum_{kind}_threshold"
    scale_name = f"autovacuum_{kind}_scale_factor"
    threshold = float_option(table, threshold_name, setting_float(snap, threshold_name))
    scale = float_option(table, scale_name, setting_float(snap, scale_name))
    threshold = defaults[0] if threshold is None else threshold
    scale = defaults[1] if scale is None else scale
    return Trigger(threshold, scale, threshold + scale * max(table.reltuples, 0.0))


def autovacuum_enabled(snap: Snapshot, table: Table) -> bool:
    if snap.setting("autovacuum") == "off" or snap.setting("track_counts") == "off":
        return False
    value = reloptions(table).get("autovacuum_enabled")
    return value is None or truthy(value)


def disabled_reason(snap: Snapshot) -> str:
    if snap.setting("autovacuum") == "off":
        return "autovacuum is off for the whole server"
    if snap.setting("track_counts") == "off":
        return "track_counts is off, so autovacuum cannot see the changes"
    return "autovacuum is disabled for this table (autovacuum_enabled=false)"


def reloptions(table: Table) -> dict[str, str]:
    pairs = (opt.split("=", 1) for opt in table.reloptions if "=" in opt)
    return {key.strip().lower(): value.strip() for key, value in pairs}


def setting_float(snap: Snapshot, name: str) -> float | None:
    value = snap.setting(name)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def latest(*timestamps: str | None) -> str | None:
    present = [t for t in timestamps if t]
    return max(present, key=sortable) if present else None


def sortable(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp).timestamp()


def minutes_since(snap: Snapshot, timestamp: str | None) -> float:
    """Minutes since `timestamp`; never means at least as long as statistics have run."""
    age = snap.age_seconds(timestamp)
    return (age if age is not None else snap.stats_age_seconds) / 60


def since_text(snap: Snapshot, timestamp: str | None) -> str:
    if timestamp is None:
        return f"since statistics began ({duration_text(snap.stats_age_seconds)} ago)"
    return f"for {duration_text(snap.age_seconds(timestamp) or 0.0)}"


def duration_text(seconds: float) -> str:
    """A rounded, readable span: minutes, hours or days."""
    if seconds >= 2 * DAY_S:
        return f"{seconds / DAY_S:.0f} days"
    if seconds >= 7200:
        return f"{seconds / 3600:.0f} hours"
    return f"{seconds / 60:.0f} minutes"


def truthy(value: str) -> bool:
    return value.strip().lower() not in ("false", "off", "no", "0", "f", "n")


def float_option(table: Table, name: str, default: float | None) -> float | None:
    value = reloptions(table).get(name)
    try:
        return float(value) if value is not None else default
    except ValueError:
        return default


def int_option(table: Table, name: str, default: int) -> int:
    value = float_option(table, name, float(default))
    return int(value) if value is not None else default


# -- the hosting platform --

# Settings only a provider's build defines: they cannot come from a role or schema name.
_PROVIDER_SETTINGS = {
    "rds.": "Amazon RDS / Aurora",
    "cloudsql.": "Google Cloud SQL",
    "alloydb.": "Google AlloyDB",
    "azure.": "Azure Database for PostgreSQL",
    "neon.": "Neon",
}


@dataclass(frozen=True)
class Platform:
    """What runs the database, what gave it away, and whether the provider takes backups."""

    name: str
    evidence: str
    managed: bool

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "evidence": self.evidence, "managed": self.managed}


def detect_platform(snap: Snapshot) -> Platform | None:
    """A managed provider from its own settings; a stack that also runs self-hosted
    (Supabase) from its roles, schemas and extensions, never counted as managed."""
    for name in sorted(snap.setting_map):
        for prefix, provider in _PROVIDER_SETTINGS.items():
            if name.startswith(prefix):
                return Platform(provider, f"setting {name}", managed=True)
    schemas = {s.name for s in snap.schemas}
    signs = [f"role {r}" for r in ("supabase_admin",) if r in snap.role_map]
    signs += [f"schema {n}" for n in ("supabase_functions",) if n in schemas]
    signs += [f"extension {e}" for e in ("supautils",) if e in snap.extension_map]
    if signs:
        return Platform("Supabase", ", ".join(signs), managed=False)
    return None


def managed_service(snap: Snapshot) -> str | None:
    """The provider's name when a managed service runs the database (its settings say so)."""
    platform = detect_platform(snap)
    return platform.name if platform is not None and platform.managed else None
