"""Connecting safely: read-only sessions with timeouts, and errors that never leak a password."""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg
from psycopg import conninfo, sql

from prodready.errors import TargetError, UsageError

APPLICATION_NAME = "prodready"
MIN_SERVER_VERSION = 130000


@dataclass(frozen=True)
class SessionLimits:
    """Timeouts for an audit session; lock_timeout keeps us from queueing behind DDL."""

    statement_timeout_ms: int = 30_000
    lock_timeout_ms: int = 2_000
    connect_timeout_s: int = 10


def parse_dsn(dsn: str) -> dict[str, str]:
    """Parse a DSN or URL; malformed input is a usage error that does not echo the password."""
    try:
        return {k: str(v) for k, v in conninfo.conninfo_to_dict(dsn).items()}
    except psycopg.ProgrammingError as exc:
        raise UsageError(f"invalid connection string: {_scrub(str(exc), dsn)}") from None


def redact_dsn(dsn: str) -> str:
    """The DSN as a person may see it: every part but the password."""
    try:
        parts = parse_dsn(dsn)
    except UsageError:
        return "<invalid connection string>"
    parts.pop("password", None)
    return conninfo.make_conninfo(**parts)


def describe_target(dsn: str) -> str:
    parts = parse_dsn(dsn)
    host = parts.get("host") or parts.get("hostaddr") or "localhost"
    port = parts.get("port") or "5432"
    db = parts.get("dbname") or parts.get("user") or ""
    return f"{host}:{port}/{db}" if db else f"{host}:{port}"


def connect(
    dsn: str,
    *,
    read_only: bool = True,
    limits: SessionLimits | None = None,
    autocommit: bool = True,
    apply_limits: bool = True,
) -> psycopg.Connection:
    """Open a session as prodready: application_name, timeouts, read-only unless asked.

    With `apply_limits=False` the caller must call `apply_session_limits` itself; the
    collector does so to read the database's own timeout settings before overriding them.
    """
    limits = limits or SessionLimits()
    parts = parse_dsn(dsn)  # raises a clean usage error before libpq sees a malformed string
    # read-only goes in the startup packet so not even our first statement can write
    read_only_options = f"{parts.get('options', '')} -c default_transaction_read_only=on"
    target = conninfo.make_conninfo(dsn, options=read_only_options.strip())
    try:
        conn = psycopg.connect(
            target if read_only else dsn,
            application_name=APPLICATION_NAME,
            connect_timeout=limits.connect_timeout_s,
            autocommit=autocommit,
        )
    except psycopg.OperationalError as exc:
        raise TargetError(_connection_failure(dsn, exc)) from None
    except psycopg.Error as exc:
        raise TargetError(
            f"cannot connect to {describe_target(dsn)}: {_scrub(_first_line(exc), dsn)}"
        ) from None
    try:
        _require_supported_server(conn, dsn)
        if apply_limits:
            apply_session_limits(conn, limits)
    except BaseException:
        conn.close()
        raise
    return conn


def apply_session_limits(conn: psycopg.Connection, limits: SessionLimits) -> None:
    """Set our timeouts with SET, so pg_settings' reset values stay the database's own."""
    for name, value in (
        ("statement_timeout", limits.statement_timeout_ms),
        ("lock_timeout", limits.lock_timeout_ms),
        ("idle_in_transaction_session_timeout", 60_000),
        ("max_parallel_workers_per_gather", 0),  # an audit should not fan out on production
    ):
        conn.execute(sql.SQL("SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))


def _require_supported_server(conn: psycopg.Connection, dsn: str) -> None:
    row = conn.execute("select version()").fetchone()
    check_server(conn.info.server_version, str(row[0]) if row else "", describe_target(dsn))


def check_server(version_num: int, banner: str, target: str) -> None:
    """Refuse servers that are not PostgreSQL, or older than 13."""
    if not banner.startswith("PostgreSQL"):
        raise TargetError(f"{target} is not PostgreSQL ({banner[:60]})")
    if version_num < MIN_SERVER_VERSION:
        major = str(version_num // 10000)
        if version_num < 100000:  # before 10, the major version had two parts
            major = f"{version_num // 10000}.{version_num // 100 % 100}"
        raise TargetError(f"{target} runs PostgreSQL {major}; prodready needs 13 or newer")


def _connection_failure(dsn: str, exc: psycopg.OperationalError) -> str:
    target = describe_target(dsn)
    message = _scrub(str(exc), dsn)
    user = parse_dsn(dsn).get("user", "")
    if "password authentication failed" in message or "no password supplied" in message:
        return f"authentication failed for user {user!r} at {target} (check the password)"
    if "does not exist" in message and "database" in message:
        return f"database does not exist at {target}"
    if "permission denied for database" in message:
        return f"role {user!r} may not connect to {target} (missing CONNECT privilege)"
    if "Connection refused" in message or "could not connect" in message:
        return f"cannot reach {target}: connection refused (is PostgreSQL running there?)"
    if "timeout" in message.lower():
        return f"cannot reach {target}: connection timed out"
    if "could not translate host name" in message:
        return f"cannot reach {target}: unknown host"
    if "received invalid response" in message or "expected authentication request" in message:
        return f"{target} is not PostgreSQL (unexpected reply to the connection handshake)"
    return f"cannot connect to {target}: {_first_line(message)}"


def _first_line(exc: object) -> str:
    text = str(exc).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    # libpq prefixes its reason with the address it tried; the reason is the last part
    line = lines[-1] if lines else text
    return re.sub(r"^connection to server at \S+ \([^)]*\), port \d+ failed: ", "", line)


def _scrub(text: str, dsn: str) -> str:
    """Remove the password from any text derived from the connection attempt."""
    try:
        password = conninfo.conninfo_to_dict(dsn).get("password")
    except psycopg.ProgrammingError:
        password = None
    if password:
        text = text.replace(str(password), "***")
    text = re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)
    return re.sub(r"(password\s*=\s*)\S+", r"\1***", text)
