"""Reliability checks from hand-built snapshots: wraparound, sequences, constraints, timeouts,
WAL archiving and durability settings."""

from __future__ import annotations

from typing import Any

import pytest

from prodready.config import Config
from prodready.db import snapshot as s
from prodready.db.checks.reliability import guc_ms
from prodready.model import Finding, Severity
from prodready.registry import run_checks
from tests import factories as f

INT_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1


def run(check_id: str, snap: s.Snapshot, **options: Any) -> list[Finding]:
    config = Config(options={check_id: options}) if options else None
    return run_checks(snap, config, only=[check_id], strict=True).findings


def cluster_db(name: str, age: int, allow: bool = True) -> s.ClusterDatabase:
    return s.ClusterDatabase(name=name, frozen_xid_age=age, allow_connections=allow)


def sequence(name: str = "t_id_seq", **kw: Any) -> s.Sequence:
    base: dict[str, Any] = dict(
        schema="public", name=name, data_type="integer", min_value=1, max_value=INT_MAX,
        increment=1, last_value=100, owned_by_table="t", owned_by_column="id",
        column_type="integer", extension=None,
    )  # fmt: skip
    return s.Sequence(**{**base, **kw})


# -- xid_wraparound --


def wrap_snap(age: int, freeze_max: str = "200000000", **kw: Any) -> s.Snapshot:
    tables = kw.pop(
        "tables",
        [
            f.table("orders", frozen_xid_age=age),
            f.table("events", frozen_xid_age=age - 1000),
            f.table("young", frozen_xid_age=1000),
        ],
    )
    return f.snapshot(
        cluster_databases=kw.pop("dbs", [cluster_db("app", age), cluster_db("postgres", 500)]),
        settings=[f.setting("autovacuum_freeze_max_age", freeze_max)],
        tables=tables,
        **kw,
    )


def test_xid_wraparound_silent_when_young() -> None:
    assert run("xid_wraparound", wrap_snap(150_000_000)) == []


def test_xid_wraparound_medium_when_autovacuum_lags() -> None:
    (finding,) = run("xid_wraparound", wrap_snap(450_000_000))
    assert finding.severity is Severity.MEDIUM
    assert finding.object == "database app"
    assert finding.evidence["frozen_xid_age"] == 450_000_000
    assert finding.evidence["percent_of_wraparound"] == 21.0
    assert finding.evidence["cluster_databases"] == {"app": 450_000_000, "postgres": 500}


def test_xid_wraparound_high_freezes_the_oldest_tables() -> None:
    (finding,) = run("xid_wraparound", wrap_snap(900_000_000))
    assert finding.severity is Severity.HIGH
    assert finding.evidence["oldest_tables"] == {
        "public.orders": 900_000_000, "public.events": 899_999_000, "public.young": 1000,
    }  # fmt: skip
    assert finding.evidence["xids_until_stop"] == 2**31 - 3_000_000 - 900_000_000
    assert finding.fix is not None
    assert finding.fix.sql == 'VACUUM (FREEZE) "public"."orders", "public"."events"'
    assert finding.fix.rollback_sql is None and finding.fix.transactional is False


def test_xid_wraparound_critical_near_the_limit() -> None:
    (finding,) = run("xid_wraparound", wrap_snap(1_700_000_000))
    assert finding.severity is Severity.CRITICAL
    assert "1,700,000,000" in finding.detail


def test_xid_wraparound_respects_a_raised_freeze_max_age() -> None:
    # 42% of 2^31, but below the team's deliberate autovacuum_freeze_max_age of 1 billion
    assert run("xid_wraparound", wrap_snap(900_000_000, freeze_max="1000000000")) == []


def test_xid_wraparound_thresholds_are_configurable() -> None:
    (finding,) = run("xid_wraparound", wrap_snap(300_000_000), high_percent=10.0)
    assert finding.severity is Severity.HIGH


def test_xid_wraparound_other_database_has_no_fix() -> None:
    snap = wrap_snap(1000, dbs=[cluster_db("app", 1000), cluster_db("legacy", 1_000_000_000)])
    (finding,) = run("xid_wraparound", snap)
    assert finding.object == "database legacy" and finding.severity is Severity.HIGH
    assert finding.fix is None and "Connect to that database" in finding.detail
    assert finding.evidence["oldest_tables"] == {}


def test_xid_wraparound_catalog_laggard_vacuums_the_whole_database() -> None:
    snap = wrap_snap(900_000_000, tables=[f.table("young", frozen_xid_age=5000)])
    (finding,) = run("xid_wraparound", snap)
    assert finding.fix is not None and finding.fix.sql == "VACUUM (FREEZE)"
    assert "system catalog" in finding.detail


def test_xid_wraparound_skips_extension_tables_and_standby_fix() -> None:
    tables = [
        f.table("spatial_ref_sys", frozen_xid_age=900_000_000, extension="postgis"),
        f.table("orders", frozen_xid_age=899_000_000),
    ]
    (finding,) = run("xid_wraparound", wrap_snap(900_000_000, tables=tables))
    assert finding.fix is not None and finding.fix.sql == 'VACUUM (FREEZE) "public"."orders"'
    standby = wrap_snap(900_000_000, server=f.server(in_recovery=True))
    (finding,) = run("xid_wraparound", standby)
    assert finding.fix is None and "standby" in finding.detail


# -- sequence_exhaustion --


def seq_snap(*sequences: s.Sequence, **kw: Any) -> s.Snapshot:
    kw.setdefault("columns", [f.column("t", "id")])
    return f.snapshot(sequences=list(sequences), **kw)


def test_sequence_serial_near_int_max_widens_column_and_sequence() -> None:
    seq = sequence(last_value=int(INT_MAX * 0.8))
    (finding,) = run("sequence_exhaustion", seq_snap(seq))
    assert finding.severity is Severity.HIGH and finding.object == "public.t (id)"
    ev = finding.evidence
    assert ev["last_value"] == int(INT_MAX * 0.8) and ev["max"] == INT_MAX
    assert ev["percent_used"] == 80.0 and ev["column_type"] == "integer"
    assert ev["limited_by"] == "column"
    assert finding.fix is not None and finding.fix.needs_review
    assert finding.fix.sql == (
        'ALTER TABLE "public"."t" ALTER COLUMN "id" TYPE bigint;\n'
        'ALTER SEQUENCE "public"."t_id_seq" AS bigint'
    )
    assert finding.fix.rollback_sql == (
        'ALTER SEQUENCE "public"."t_id_seq" AS integer;\n'
        'ALTER TABLE "public"."t" ALTER COLUMN "id" TYPE integer'
    )
    assert "ACCESS EXCLUSIVE" in finding.detail


def test_sequence_identity_column_also_widens_referencing_columns() -> None:
    seq = sequence(last_value=int(INT_MAX * 0.95))
    snap = seq_snap(
        seq,
        columns=[
            f.column("t", "id", identity="d"),
            f.column("child", "t_id", num=2),
            f.column("wide_child", "t_id", num=2, type="bigint"),
        ],
        constraints=[
            f.constraint("child_t_fk", table="child", columns=["t_id"], ref_schema="public",
                         ref_table="t", ref_columns=["id"]),
            f.constraint("wide_t_fk", table="wide_child", columns=["t_id"], ref_schema="public",
                         ref_table="t", ref_columns=["id"]),
        ],
    )  # fmt: skip
    (finding,) = run("sequence_exhaustion", snap)
    assert finding.severity is Severity.CRITICAL
    assert finding.fix is not None
    # identity sequences follow their column's type: no ALTER SEQUENCE
    assert finding.fix.sql == (
        'ALTER TABLE "public"."t" ALTER COLUMN "id" TYPE bigint;\n'
        'ALTER TABLE "public"."child" ALTER COLUMN "t_id" TYPE bigint'
    )
    assert finding.fix.rollback_sql == (
        'ALTER TABLE "public"."child" ALTER COLUMN "t_id" TYPE integer;\n'
        'ALTER TABLE "public"."t" ALTER COLUMN "id" TYPE integer'
    )


def test_bigint_sequence_feeding_int_column_by_default() -> None:
    seq = sequence(
        "legacy_seq", data_type="bigint", max_value=BIGINT_MAX, last_value=2_100_000_000,
        owned_by_table=None, owned_by_column=None, column_type=None,
    )  # fmt: skip
    col = f.column("t", "id", default="nextval('legacy_seq'::regclass)")
    (finding,) = run("sequence_exhaustion", seq_snap(seq, columns=[col], tables=[f.table("t")]))
    assert finding.object == "public.t (id)" and finding.severity is Severity.CRITICAL
    assert finding.evidence["max"] == INT_MAX and finding.evidence["sequence_max"] == BIGINT_MAX
    assert finding.evidence["limited_by"] == "column"
    assert finding.fix is not None
    assert finding.fix.sql == 'ALTER TABLE "public"."t" ALTER COLUMN "id" TYPE bigint'


def test_sequence_default_with_quoted_qualified_name() -> None:
    seq = sequence(
        "Seq q", schema="My App", data_type="bigint", max_value=BIGINT_MAX,
        last_value=2_000_000_000, owned_by_table=None, owned_by_column=None, column_type=None,
    )  # fmt: skip
    col = f.column("T", "id", schema="My App", default="""nextval('"My App"."Seq q"'::regclass)""")
    table = f.table("T", schema="My App")
    (finding,) = run("sequence_exhaustion", seq_snap(seq, columns=[col], tables=[table]))
    assert finding.object == '"My App"."T" (id)'
    assert finding.fix is not None
    assert finding.fix.sql == 'ALTER TABLE "My App"."T" ALTER COLUMN "id" TYPE bigint'


def test_bigint_sequence_and_column_is_silent() -> None:
    seq = sequence(data_type="bigint", max_value=BIGINT_MAX, last_value=5_000_000_000,
                   column_type="bigint")  # fmt: skip
    assert run("sequence_exhaustion", seq_snap(seq)) == []


def test_bigint_sequence_and_column_near_the_top_has_no_fix() -> None:
    # only reachable with setval, but then no type change can help
    seq = sequence(data_type="bigint", max_value=BIGINT_MAX, last_value=BIGINT_MAX - 10**17,
                   column_type="bigint")  # fmt: skip
    (finding,) = run("sequence_exhaustion", seq_snap(seq))
    assert finding.severity is Severity.CRITICAL and finding.evidence["limited_by"] == "sequence"
    assert finding.fix is None


def test_nextval_default_on_a_view_is_not_the_fed_column() -> None:
    seq = sequence(
        "legacy_seq", data_type="bigint", max_value=BIGINT_MAX, last_value=2_100_000_000,
        owned_by_table=None, owned_by_column=None, column_type=None,
    )  # fmt: skip
    default = "nextval('legacy_seq'::regclass)"
    view_col = f.column("a_view", "id", default=default)
    assert run("sequence_exhaustion", seq_snap(seq, columns=[view_col])) == []
    snap = seq_snap(
        seq, tables=[f.table("t")], columns=[view_col, f.column("t", "id", default=default)]
    )
    (finding,) = run("sequence_exhaustion", snap)
    assert finding.object == "public.t (id)"


def test_int_sequence_feeding_bigint_column_widens_only_the_sequence() -> None:
    seq = sequence(last_value=int(INT_MAX * 0.8), column_type="bigint")
    (finding,) = run("sequence_exhaustion", seq_snap(seq))
    assert finding.evidence["limited_by"] == "sequence"
    assert finding.fix is not None and not finding.fix.needs_review
    assert finding.fix.sql == 'ALTER SEQUENCE "public"."t_id_seq" AS bigint'
    assert finding.fix.rollback_sql == 'ALTER SEQUENCE "public"."t_id_seq" AS integer'


def test_descending_sequence_uses_the_minimum() -> None:
    seq = sequence(increment=-1, min_value=-(2**31), max_value=-1, last_value=-2_000_000_000)
    (finding,) = run("sequence_exhaustion", seq_snap(seq))
    assert finding.severity is Severity.CRITICAL
    assert finding.evidence["max"] == -(2**31) and finding.evidence["percent_used"] == 93.13


def test_custom_maxvalue_has_no_automatic_fix() -> None:
    seq = sequence(max_value=1000, last_value=800, column_type="bigint")
    (finding,) = run("sequence_exhaustion", seq_snap(seq))
    assert finding.severity is Severity.HIGH and finding.evidence["max"] == 1000
    assert finding.fix is None and "explicitly" in finding.detail


@pytest.mark.parametrize(
    "seq",
    [
        sequence(last_value=int(INT_MAX * 0.7)),  # below 75%
        sequence(last_value=None),  # unreadable: a limitation covers it
        sequence(last_value=INT_MAX, extension="postgis"),
    ],
    ids=["below-threshold", "unreadable", "extension"],
)
def test_sequence_silent_cases(seq: s.Sequence) -> None:
    assert run("sequence_exhaustion", seq_snap(seq)) == []


def test_sequence_thresholds_are_configurable() -> None:
    seq = sequence(last_value=int(INT_MAX * 0.6))
    (finding,) = run("sequence_exhaustion", seq_snap(seq), high_percent=50.0)
    assert finding.severity is Severity.HIGH


def test_unowned_integer_sequence_needs_review() -> None:
    seq = sequence("orphan_seq", last_value=int(INT_MAX * 0.9), owned_by_table=None,
                   owned_by_column=None, column_type=None)  # fmt: skip
    (finding,) = run("sequence_exhaustion", seq_snap(seq))
    assert finding.object == "public.orphan_seq" and finding.severity is Severity.CRITICAL
    assert finding.fix is not None and finding.fix.needs_review
    assert finding.fix.sql == 'ALTER SEQUENCE "public"."orphan_seq" AS bigint'


# -- unvalidated_constraint --


def test_unvalidated_foreign_key_and_check() -> None:
    snap = f.snapshot(
        tables=[f.table("orders", reltuples=5000.0)],
        constraints=[
            f.constraint("orders_buyer_fk", table="orders", validated=False,
                         definition="FOREIGN KEY (buyer_id) REFERENCES buyers(id) NOT VALID"),
            f.constraint("orders_total_check", table="orders", type="c", validated=False,
                         definition="CHECK (total >= 0) NOT VALID"),
            f.constraint("orders_ok_fk", table="orders"),
        ],
    )  # fmt: skip
    findings = run("unvalidated_constraint", snap)
    assert [x.object for x in findings] == [
        "public.orders (orders_buyer_fk)",
        "public.orders (orders_total_check)",
    ]
    fk = findings[0]
    assert fk.severity is Severity.MEDIUM and fk.evidence["type"] == "foreign key"
    assert fk.evidence["estimated_rows"] == 5000
    assert fk.fix is not None and fk.fix.rollback_sql is None and fk.fix.transactional
    assert fk.fix.sql == 'ALTER TABLE "public"."orders" VALIDATE CONSTRAINT "orders_buyer_fk"'
    assert "no rollback" in fk.detail
    assert findings[1].evidence["type"] == "check"


def test_unvalidated_constraint_skips_extension_tables() -> None:
    snap = f.snapshot(
        tables=[f.table("ext_t", extension="someext")],
        constraints=[f.constraint("c", table="ext_t", validated=False)],
    )
    assert run("unvalidated_constraint", snap) == []


# -- timeouts_unset --


def timeout_snap(stmt: tuple[str, str], idle: tuple[str, str], **kw: Any) -> s.Snapshot:
    return f.snapshot(
        settings=[
            f.setting("statement_timeout", stmt[0], "ms", source=stmt[1]),
            f.setting("idle_in_transaction_session_timeout", idle[0], "ms", source=idle[1]),
            f.setting("lock_timeout", "0", "ms"),
        ],
        **kw,
    )


def test_timeouts_unset_one_finding_per_missing_timeout() -> None:
    findings = run("timeouts_unset", timeout_snap(("0", "default"), ("0", "configuration file")))
    assert [x.object for x in findings] == [
        "database app (idle_in_transaction_session_timeout)",
        "database app (statement_timeout)",
    ]
    idle, stmt = findings
    assert stmt.severity is Severity.MEDIUM
    assert stmt.evidence == {
        "setting": "statement_timeout", "roles_without_timeout": {"app": "default"},
        "roles_with_timeout": [], "audited_as": "app",
    }  # fmt: skip
    assert stmt.fix is not None and stmt.fix.needs_review
    assert stmt.fix.sql == """ALTER DATABASE "app" SET "statement_timeout" = '30s'"""
    assert stmt.fix.rollback_sql == 'ALTER DATABASE "app" RESET "statement_timeout"'
    assert idle.fix is not None
    assert idle.fix.sql == (
        """ALTER DATABASE "app" SET "idle_in_transaction_session_timeout" = '60s'"""
    )


def test_timeouts_set_are_silent() -> None:
    findings = run("timeouts_unset", timeout_snap(("30000", "database"), ("0", "default")))
    assert [x.object for x in findings] == ["database app (idle_in_transaction_session_timeout)"]


def test_timeouts_from_the_audit_session_are_not_representative() -> None:
    # a DSN with options=-c statement_timeout=0 says nothing about the application
    assert run("timeouts_unset", timeout_snap(("0", "client"), ("0", "session"))) == []


def test_timeouts_explicit_zero_is_restored_exactly() -> None:
    findings = run("timeouts_unset", timeout_snap(("0", "database"), ("60000", "default")))
    (stmt,) = findings
    assert stmt.fix is not None
    assert stmt.fix.rollback_sql == """ALTER DATABASE "app" SET "statement_timeout" = '0'"""


def test_timeouts_role_level_zero_is_fixed_on_the_role() -> None:
    snap = timeout_snap(("0", "user"), ("0", "database user"), server=f.server(session_user="web"))
    idle, stmt = run("timeouts_unset", snap)
    assert stmt.fix is not None and idle.fix is not None
    assert stmt.fix.sql == """ALTER ROLE "web" SET "statement_timeout" = '30s'"""
    assert stmt.fix.rollback_sql == """ALTER ROLE "web" SET "statement_timeout" = '0'"""
    assert idle.fix.sql == (
        """ALTER ROLE "web" IN DATABASE "app" SET "idle_in_transaction_session_timeout" = '60s'"""
    )


def test_timeouts_values_are_configurable_and_missing_settings_silent() -> None:
    snap = timeout_snap(("0", "default"), ("1000", "default"))
    (stmt,) = run("timeouts_unset", snap, statement_timeout="5min")
    assert stmt.fix is not None and "'5min'" in stmt.fix.sql
    assert run("timeouts_unset", f.snapshot()) == []


def app_snap(
    *role_settings: s.RoleSetting, statement: tuple[str, str] = ("0", "default")
) -> s.Snapshot:
    """Audited as a pg_monitor role; the app logs in as `web` and as Supabase's `anon`."""
    return timeout_snap(
        statement,
        ("60000", "default"),
        server=f.server(session_user="auditor", current_user="auditor"),
        roles=[
            f.role("auditor", login=True, member_of=["pg_monitor"]),
            f.role("pg_monitor"),
            f.role("web", login=True),
            f.role("anon"),
        ],
        tables=[f.table("orders", owner="web", acl=["web=arwdDxt/web", "anon=r/web"])],
        role_settings=list(role_settings),
    )


def test_timeouts_judge_the_app_roles_not_the_auditor() -> None:
    (stmt,) = run("timeouts_unset", app_snap())
    assert stmt.evidence["roles_without_timeout"] == {"anon": "server", "web": "server"}
    assert stmt.evidence["audited_as"] == "auditor"
    assert "auditor" not in stmt.detail
    assert stmt.fix is not None
    assert stmt.fix.sql == """ALTER DATABASE "app" SET "statement_timeout" = '30s'"""


def test_timeouts_set_on_every_app_role_are_silent() -> None:
    snap = app_snap(
        s.RoleSetting("web", None, "statement_timeout", "8s"),
        s.RoleSetting("anon", "app", "statement_timeout", "3s"),
    )
    assert run("timeouts_unset", snap) == []


def test_timeouts_database_default_covers_roles_without_their_own() -> None:
    snap = app_snap(s.RoleSetting(None, "app", "statement_timeout", "30s"))
    assert run("timeouts_unset", snap) == []


def test_timeouts_role_override_to_zero_beats_the_database_default() -> None:
    snap = app_snap(
        s.RoleSetting(None, "app", "statement_timeout", "30s"),
        s.RoleSetting("web", "app", "statement_timeout", "0"),
    )
    (stmt,) = run("timeouts_unset", snap)
    assert stmt.evidence["roles_without_timeout"] == {"web": "role in database"}
    assert stmt.evidence["roles_with_timeout"] == ["anon"]
    assert stmt.fix is not None
    assert stmt.fix.sql == """ALTER ROLE "web" IN DATABASE "app" SET "statement_timeout" = '30s'"""
    assert stmt.fix.rollback_sql == (
        """ALTER ROLE "web" IN DATABASE "app" SET "statement_timeout" = '0'"""
    )


def test_timeouts_masked_server_value_is_not_guessed() -> None:
    # the auditor's own ALTER ROLE hides the server-wide value: roles without overrides
    # cannot be judged, so nothing is claimed about them
    snap = app_snap(statement=("5000", "user"))
    assert run("timeouts_unset", snap) == []


def test_guc_ms_reads_alter_set_values() -> None:
    assert [guc_ms(v) for v in ("8s", "1min", "500", "0", "1.5h", "2d", "x", "5 parsecs")] == [
        8000.0, 60000.0, 500.0, 0.0, 5400000.0, 172800000.0, None, None,
    ]  # fmt: skip


# -- wal_archiving_disabled --


def wal_snap(mode: str = "off", command: str = "(disabled)", **kw: Any) -> s.Snapshot:
    settings = [
        f.setting("archive_mode", mode),
        f.setting("archive_command", command),
        f.setting("archive_library", kw.pop("library", "")),
        f.setting("wal_level", "replica"),
        *kw.pop("extra_settings", []),
    ]
    return f.snapshot(settings=settings, **kw)


def test_archiving_off_is_high() -> None:
    (finding,) = run("wal_archiving_disabled", wal_snap())
    assert finding.object == "archive_mode" and finding.severity is Severity.HIGH
    assert finding.fix is None and "restart" in finding.detail
    assert finding.evidence["archive_mode"] == "off" and finding.evidence["physical_slots"] == []


@pytest.mark.parametrize("command", ["", "/bin/true", "true", ":", "exit 0"])
def test_archive_mode_on_without_a_real_command(command: str) -> None:
    (finding,) = run("wal_archiving_disabled", wal_snap("on", command))
    assert finding.object == "archive_command" and finding.severity is Severity.HIGH


@pytest.mark.parametrize(
    "snap",
    [
        wal_snap("on", "pgbackrest --stanza=main archive-push %p"),
        wal_snap("always", "wal-g wal-push %p"),
        wal_snap("on", "", library="basic_archive"),
        wal_snap(server=f.server(in_recovery=True)),
        f.snapshot(),  # archive_mode not visible
    ],
    ids=["pgbackrest", "walg-always", "archive-library", "standby", "unknown"],
)
def test_archiving_silent_cases(snap: s.Snapshot) -> None:
    assert run("wal_archiving_disabled", snap) == []


def test_archiving_off_with_streaming_is_info() -> None:
    slot = s.ReplicationSlot("barman", "physical", True, "reserved", 1024)
    (finding,) = run("wal_archiving_disabled", wal_snap(replication_slots=[slot]))
    assert finding.severity is Severity.INFO and "barman" in finding.detail
    sender = f.activity(9, backend_type="walsender", application_name="pg_receivewal")
    (finding,) = run("wal_archiving_disabled", wal_snap(activity=[sender]))
    assert finding.severity is Severity.INFO
    assert finding.evidence["wal_senders"] == ["pg_receivewal"]


def test_archiving_off_logical_slot_is_not_streaming() -> None:
    slot = s.ReplicationSlot("debezium", "logical", True, "reserved", 1024)
    (finding,) = run("wal_archiving_disabled", wal_snap(replication_slots=[slot]))
    assert finding.severity is Severity.HIGH


@pytest.mark.parametrize(
    ("kw", "provider"),
    [
        ({"extra_settings": [f.setting("rds.force_ssl", "1")]}, "Amazon RDS / Aurora"),
        ({"extra_settings": [f.setting("cloudsql.iam_authentication", "on")]}, "Cloud SQL"),
        ({"extra_settings": [f.setting("azure.extensions", "")]}, "Azure"),
    ],
)
def test_archiving_on_managed_service_is_info(kw: dict[str, Any], provider: str) -> None:
    (finding,) = run("wal_archiving_disabled", wal_snap(**kw))
    assert finding.severity is Severity.INFO and provider in finding.detail
    assert finding.evidence["platform"]["managed"] is True


@pytest.mark.parametrize(
    "kw",
    [
        {"roles": [f.role("supabase_admin")]},
        {"schemas": [s.Schema("supabase_functions", "supabase_admin", None, None)]},
        {"extensions": [s.Extension("supautils", "extensions", "2.6.0", False)]},
    ],
)
def test_archiving_off_on_supabase_keeps_its_severity(kw: dict[str, Any]) -> None:
    # a role name is no proof of a managed host: self-hosted Supabase has no PITR
    (finding,) = run("wal_archiving_disabled", wal_snap(**kw))
    assert finding.severity is Severity.HIGH
    assert "looks like Supabase" in finding.detail and "self-hosted" in finding.detail
    assert "suppress `wal_archiving_disabled:archive_mode`" in finding.detail
    assert finding.evidence["platform"]["managed"] is False


def archiver(**kw: Any) -> s.Archiver:
    base: dict[str, Any] = dict(
        archived_count=10, last_archived_time="2026-01-31T10:00:00+00:00", failed_count=3,
        last_failed_time="2026-01-31T11:59:00+00:00", stats_reset=f.STARTED_AT,
    )  # fmt: skip
    return s.Archiver(**{**base, **kw})


def test_a_failing_archiver_is_one_finding_of_wal_archiving_failing() -> None:
    snap = wal_snap("on", "pgbackrest archive-push %p", archiver=archiver())
    assert run("wal_archiving_disabled", snap) == []  # configured: not "disabled"
    (finding,) = run("wal_archiving_failing", snap)
    assert finding.object == "pg_stat_archiver" and finding.severity is Severity.HIGH
    assert finding.evidence["failed_count"] == 3


def test_archiver_recovered_after_failure_is_silent() -> None:
    recovered = archiver(last_archived_time="2026-01-31T11:59:30+00:00")
    snap = wal_snap("on", "pgbackrest archive-push %p", archiver=recovered)
    assert run("wal_archiving_disabled", snap) == []
    clean = archiver(failed_count=0, last_failed_time=None)
    assert run("wal_archiving_disabled", wal_snap("on", "x %p", archiver=clean)) == []


# -- fsync_disabled --


def durability_snap(fsync: str = "on", fpw: str = "on", sync: str = "on", **kw: Any) -> s.Snapshot:
    settings = [
        f.setting("fsync", fsync, vartype="bool"),
        f.setting("full_page_writes", fpw, vartype="bool"),
        f.setting("synchronous_commit", sync, vartype="enum"),
        *kw.pop("extra_settings", []),
    ]
    return f.snapshot(settings=settings, **kw)


def test_durability_all_on_is_silent() -> None:
    assert run("fsync_disabled", durability_snap()) == []
    assert run("fsync_disabled", durability_snap(sync="local")) == []


def test_fsync_off_is_critical_with_alter_system_fix() -> None:
    (finding,) = run("fsync_disabled", durability_snap(fsync="off"))
    assert finding.object == "fsync" and finding.severity is Severity.CRITICAL
    assert finding.fix is not None and finding.fix.transactional is False
    assert finding.fix.sql == """ALTER SYSTEM SET "fsync" = 'on';\nSELECT pg_reload_conf()"""
    assert finding.fix.rollback_sql == 'ALTER SYSTEM RESET "fsync";\nSELECT pg_reload_conf()'


def test_full_page_writes_off_is_high() -> None:
    (finding,) = run("fsync_disabled", durability_snap(fpw="off"))
    assert finding.object == "full_page_writes" and finding.severity is Severity.HIGH
    assert finding.fix is not None and "full_page_writes" in finding.fix.sql


def test_synchronous_commit_off_is_only_info() -> None:
    (finding,) = run("fsync_disabled", durability_snap(sync="off"))
    assert finding.object == "synchronous_commit" and finding.severity is Severity.INFO
    assert finding.fix is None


def test_fsync_off_on_managed_service_has_no_alter_system_fix() -> None:
    snap = durability_snap(fsync="off", extra_settings=[f.setting("rds.extensions", "x")])
    (finding,) = run("fsync_disabled", snap)
    assert finding.severity is Severity.CRITICAL and finding.fix is None
