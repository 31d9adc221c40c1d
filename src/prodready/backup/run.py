"""Run pg_dump / pg_restore without a password on their command line (ps shows argv)."""

from __future__ import annotations

import os
import subprocess

from psycopg import conninfo

from prodready.errors import EXIT_TARGET, ProdreadyError, TargetError, UsageError
from prodready.pg.connection import _scrub, describe_target, parse_dsn


class ToolError(ProdreadyError):
    """pg_dump or pg_restore failed; the message is its first meaningful stderr line."""

    exit_code = EXIT_TARGET


def client_args(dsn: str) -> tuple[str, dict[str, str]]:
    """A conninfo without the password, and an environment that carries it."""
    parts = parse_dsn(dsn)
    password = parts.pop("password", None)
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = password
    parts.setdefault("application_name", "prodready")
    return conninfo.make_conninfo(**parts), env


def run_tool(command: list[str], dsn: str, what: str, timeout: float | None = None) -> str:
    """Run a client tool against `dsn`; failures become one clean line without a password."""
    target, env = client_args(dsn)
    try:
        done = subprocess.run(
            [*command, "--no-password", "-d", target],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
    except OSError as exc:
        raise TargetError(f"cannot run {command[0]}: {exc.strerror}") from None
    if done.returncode != 0:
        raise _failure(what, done.stderr, dsn)
    return done.stdout


def _failure(what: str, stderr: str, dsn: str) -> ProdreadyError:
    lines = [line for line in stderr.splitlines() if line.strip()]
    # pg_dump reports the cause on its "error:" line; the rest is context
    cause = next((line for line in lines if "error:" in line), lines[0] if lines else "failed")
    cause = _scrub(cause.split("error:", 1)[-1].strip(), dsn)
    message = f"{what} failed against {describe_target(dsn)}: {cause}"
    if (
        "No space left" in stderr
        or "could not write" in stderr
        or "could not open output" in stderr
    ):
        return UsageError(message)
    if "connection" in stderr.lower() or "terminat" in stderr.lower():
        return TargetError(message)
    return ToolError(message)
