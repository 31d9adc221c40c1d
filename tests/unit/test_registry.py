"""The registry: metadata once, stamped findings, stable keys, suppressions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from prodready import registry
from prodready.config import Config
from prodready.db.snapshot import Snapshot
from prodready.model import Category, Issue, Severity
from tests import factories as f


@pytest.fixture
def scratch_check() -> Iterator[str]:
    """Register a throwaway check and remove it afterwards."""

    @registry.check(
        "zz_scratch",
        title="Scratch check",
        category=Category.RELIABILITY,
        severity=Severity.MEDIUM,
        options={"limit": 2},
    )
    def zz_scratch(snap: Snapshot, opts: registry.Options) -> Iterator[Issue]:
        """A check for tests: one issue per table, up to `limit`."""
        for table in snap.tables[: opts["limit"]]:
            severity = Severity.HIGH if table.name == "big" else None
            yield Issue(table.qualified, f"{table.name} is here", {"rows": 1}, severity=severity)

    yield "zz_scratch"
    registry._CATALOG.pop("zz_scratch", None)


def test_runner_stamps_id_category_severity_and_key(scratch_check: str) -> None:
    snap = f.snapshot(tables=[f.table("small"), f.table("big")])
    run = registry.run_checks(snap, only=[scratch_check])
    assert [(x.key, x.severity, x.category, x.phase) for x in run.findings] == [
        ("zz_scratch:public.big", Severity.HIGH, Category.RELIABILITY, 2),
        ("zz_scratch:public.small", Severity.MEDIUM, Category.RELIABILITY, 3),
    ]


def test_options_come_from_config(scratch_check: str) -> None:
    snap = f.snapshot(tables=[f.table("a"), f.table("b"), f.table("c")])
    assert len(registry.run_checks(snap, only=[scratch_check]).findings) == 2
    config = Config(options={scratch_check: {"limit": 3}})
    assert len(registry.run_checks(snap, config, only=[scratch_check]).findings) == 3


def test_suppressions_exact_and_glob(scratch_check: str) -> None:
    snap = f.snapshot(tables=[f.table("a"), f.table("b")])
    config = Config(suppressions={"zz_scratch:public.a": "known", "zz_scratch:other.*": "x"})
    run = registry.run_checks(snap, config, only=[scratch_check])
    assert [x.key for x in run.findings] == ["zz_scratch:public.b"]
    assert [(s.finding.key, s.reason) for s in run.suppressed] == [("zz_scratch:public.a", "known")]
    glob = Config(suppressions={"zz_scratch:public.*": "all of public"})
    assert not registry.run_checks(snap, glob, only=[scratch_check]).findings


def test_disabled_check_does_not_run(scratch_check: str) -> None:
    snap = f.snapshot(tables=[f.table("a")])
    run = registry.run_checks(snap, Config(disabled={scratch_check}), only=[scratch_check])
    assert run.findings == []


def test_duplicate_id_and_missing_docstring_are_refused(scratch_check: str) -> None:
    with pytest.raises(ValueError, match="duplicate check id"):
        registry.check(scratch_check, title="t", category=Category.SECURITY, severity=Severity.LOW)(
            lambda snap, opts: iter(())
        )
    with pytest.raises(ValueError, match="needs a docstring"):
        registry.check("zz_nodoc", title="t", category=Category.SECURITY, severity=Severity.LOW)(
            lambda snap, opts: iter(())
        )


def test_a_failing_check_is_reported_not_fatal(scratch_check: str) -> None:
    snap = f.snapshot(tables=[f.table("a")])
    broken = Config(options={scratch_check: {"limit": "two"}})  # slicing with a str fails
    run = registry.run_checks(snap, broken, only=[scratch_check])
    assert run.findings == [] and run.failures[0][0] == scratch_check
    with pytest.raises(TypeError):
        registry.run_checks(snap, broken, only=[scratch_check], strict=True)


def test_catalog_ids_are_snake_case_with_docs() -> None:
    checks = registry.catalog()
    assert len(checks) >= 36
    for item in checks:
        assert item.info.id == item.info.id.lower() and " " not in item.info.id
        assert item.info.description and item.info.title


def test_every_check_is_silent_on_an_empty_database() -> None:
    """A brand-new, healthy database must not produce findings from catalog checks."""
    snap = f.snapshot(
        settings=[
            f.setting("fsync", "on", vartype="bool"),
            f.setting("full_page_writes", "on", vartype="bool"),
            f.setting("max_connections", "100", vartype="integer"),
        ]
    )
    run = registry.run_checks(snap, strict=True)
    noisy = {x.check for x in run.findings} - {
        # these judge server settings the bare snapshot leaves unset or at defaults
        "pg_stat_statements_missing",
        "slow_query_logging_disabled",
        "timeouts_unset",
        "wal_archiving_disabled",
    }
    assert not noisy, noisy
