"""Connection helpers that need no server: DSN parsing, redaction, version gate."""

from __future__ import annotations

import pytest

from prodready.errors import TargetError, UsageError
from prodready.pg.connection import _scrub, check_server, describe_target, parse_dsn, redact_dsn


def test_redact_dsn_drops_the_password() -> None:
    assert "secret" not in redact_dsn("postgresql://app:secret@db.example:6543/shop")
    assert "secret" not in redact_dsn("host=db password=secret dbname=shop")
    assert "dbname=shop" in redact_dsn("host=db password=secret dbname=shop")


def test_describe_target() -> None:
    assert describe_target("postgresql://app:pw@db.example:6543/shop") == "db.example:6543/shop"
    assert describe_target("dbname=shop") == "localhost:5432/shop"


def test_malformed_dsn_is_a_usage_error_without_password() -> None:
    with pytest.raises(UsageError) as err:
        parse_dsn("host=x password=sekrit nonsense")
    assert "sekrit" not in str(err.value)


def test_scrub_removes_passwords_from_text() -> None:
    dsn = "postgresql://app:pa55@h/db"
    assert "pa55" not in _scrub("failed for postgresql://app:pa55@h/db", dsn)
    assert "zz9" not in _scrub("bad: password=zz9 host=h", "host=h")


@pytest.mark.parametrize(
    ("num", "banner", "message"),
    [
        (120005, "PostgreSQL 12.5 on x86_64", "runs PostgreSQL 12; prodready needs 13"),
        (90624, "PostgreSQL 9.6.24", "runs PostgreSQL 9.6;"),
        (150000, "CockroachDB CCL v23.1", "is not PostgreSQL"),
    ],
)
def test_unsupported_servers_are_refused(num: int, banner: str, message: str) -> None:
    with pytest.raises(TargetError) as err:
        check_server(num, banner, "h:5432/db")
    assert message in str(err.value)


def test_supported_server_passes() -> None:
    check_server(130000, "PostgreSQL 13.0", "h:5432/db")
    check_server(170002, "PostgreSQL 17.2", "h:5432/db")
