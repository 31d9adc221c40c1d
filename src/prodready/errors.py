"""Errors that end a command with one line on stderr and a documented exit code."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_TARGET = 3
EXIT_MIGRATION = 5


class ProdreadyError(Exception):
    """An error the CLI reports as one line; `exit_code` follows DESIGN.md."""

    exit_code = EXIT_USAGE


class UsageError(ProdreadyError):
    """Bad arguments, malformed files, unreadable configuration."""

    exit_code = EXIT_USAGE


class TargetError(ProdreadyError):
    """The target is unreachable, not PostgreSQL, too old, or refuses us privileges."""

    exit_code = EXIT_TARGET


class MigrationError(ProdreadyError):
    """A migration failed, timed out on its locks, or was refused; the journal says where."""

    exit_code = EXIT_MIGRATION
