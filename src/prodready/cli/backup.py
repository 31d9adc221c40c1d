"""`backup` (with `verify` and `schedule`) and `restore`: dumps you have actually restored."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from prodready.cli._app import DbOption, _check_format, _require_db, _stderr, _stdout, app
from prodready.errors import EXIT_FINDINGS, UsageError

backup_app = typer.Typer(
    name="backup",
    help=(
        "Dump a database with a manifest (sha256 of every file, row counts, schema "
        "fingerprint), then apply retention.\n\n"
        "\b\n"
        "  prodready backup --db DSN --to DIR [--jobs N] [--keep-last N] [--keep-days N]\n"
        "  prodready backup verify DUMP|DIR --scratch DSN    restore drill (RTO, RPO)\n"
        "  prodready backup schedule --db DSN --to DIR --format cron|systemd|kubernetes\n\n"
        "Exit codes: 0 ok; 1 the drill failed; 2 usage or input error (unwritable directory, "
        "missing manifest, scratch is the source); 3 database unreachable or pg_dump older "
        "than the server."
    ),
    invoke_without_command=True,
    no_args_is_help=False,
    rich_markup_mode=None,
)
app.add_typer(backup_app)

ToOption = Annotated[Path | None, typer.Option("--to", help="Directory for dumps and manifests.")]
JobsOption = Annotated[
    int, typer.Option("--jobs", "-j", help="Parallel jobs (>1 writes a directory-format dump).")
]
KeepLast = Annotated[
    int | None, typer.Option("--keep-last", help="Retention: keep the newest N backups.")
]
KeepDays = Annotated[
    float | None, typer.Option("--keep-days", help="Retention: keep backups younger than N days.")
]


@backup_app.callback()
def backup(
    ctx: typer.Context,
    db: DbOption = None,
    to: ToOption = None,
    jobs: JobsOption = 1,
    keep_last: KeepLast = None,
    keep_days: KeepDays = None,
) -> None:
    """Dump the database to --to with a manifest; retention runs after a verified dump.

    Retention keeps a backup that is among the newest --keep-last OR younger than
    --keep-days, and never deletes the newest good one.
    """
    if ctx.invoked_subcommand is not None:
        return
    if to is None:
        if db is None:
            _stdout().print(ctx.get_help(), markup=False)
            return
        raise UsageError("--to DIR is required (where the dump and its manifest go)")
    from prodready.backup.dump import take_backup
    from prodready.backup.render import backup_summary

    result = take_backup(_require_db(db), to, jobs=jobs, keep_last=keep_last, keep_days=keep_days)
    _stdout().print(backup_summary(result), markup=False)


@backup_app.command("verify")
def verify_cmd(
    dump: Annotated[
        Path, typer.Argument(help="A dump, or a backup directory (its newest dump is drilled).")
    ],
    scratch: Annotated[
        str | None,
        typer.Option(
            "--scratch",
            envvar="PRODREADY_SCRATCH_URL",
            help="Scratch server to restore on; a fresh database is created there and dropped "
            "after (needs CREATEDB). Never the source database.",
        ),
    ] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="pg_restore jobs.")] = None,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the restored scratch database.")
    ] = False,
    format: Annotated[str, typer.Option("--format", "-f", help="terminal or json.")] = "terminal",
) -> None:
    """Restore drill: checksums, restore into scratch, compare schema and rows, smoke tests."""
    import json

    from prodready.backup.drill import verify_dump
    from prodready.backup.render import drill_summary

    _check_format(format, ("terminal", "json"))
    if scratch is None:
        raise UsageError("--scratch DSN (or PRODREADY_SCRATCH_URL) is required")
    record = verify_dump(resolve_dump(dump), scratch, jobs=jobs, keep=keep)
    if format == "json":
        sys.stdout.write(json.dumps(record.to_json(), indent=2) + "\n")
    else:
        _stdout().print(drill_summary(record), markup=False)
    if not record.ok:
        raise typer.Exit(EXIT_FINDINGS)


@backup_app.command("schedule")
def schedule_cmd(
    db: DbOption = None,
    to: ToOption = None,
    format: Annotated[
        str, typer.Option("--format", "-f", help="cron, systemd or kubernetes.")
    ] = "cron",
    scratch: Annotated[
        str | None, typer.Option("--scratch", help="Scratch server for the nightly drill.")
    ] = None,
    jobs: JobsOption = 1,
    keep_last: KeepLast = None,
    keep_days: KeepDays = 14,
    at: Annotated[str, typer.Option("--at", help="Time of day, HH:MM (UTC).")] = "03:17",
) -> None:
    """Print the scheduled job (backup + drill + retention); no password is ever printed."""
    from prodready.backup.schedule import FORMATS, Job, render_schedule
    from prodready.pg.connection import parse_dsn

    _check_format(format, FORMATS)
    if to is None:
        raise UsageError("--to DIR is required")
    db = _require_db(db)
    parse_dsn(db)
    try:
        hour, minute = (int(part) for part in at.split(":"))
        if not (0 <= hour < 24 and 0 <= minute < 60):
            raise ValueError
    except ValueError:
        raise UsageError(f"--at {at!r} is not a time of day (HH:MM)") from None
    job = Job(db, str(to), scratch, keep_last, keep_days, jobs, hour, minute)
    sys.stdout.write(render_schedule(job, format))


@app.command("restore")
def restore_cmd(
    dump: Annotated[Path, typer.Argument(help="The dump to restore (its manifest beside it).")],
    db: DbOption = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm: objects in the dump are replaced in --db.")
    ] = False,
    pre_backup_to: Annotated[
        Path | None,
        typer.Option(
            "--pre-backup-to", help="Where the pre-restore backup goes (default: beside DUMP)."
        ),
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="pg_restore jobs.")] = 1,
) -> None:
    """Restore a dump over a database: pre-restore backup first, then restore, then verify."""
    from prodready.backup.render import steps_text
    from prodready.backup.restore import restore_dump

    db = _require_db(db)
    if not yes:
        raise UsageError(
            "restore replaces the objects of the dump in the target database; "
            "add --yes to confirm (a pre-restore backup is taken first)"
        )
    result = restore_dump(resolve_dump(dump), db, pre_backup_dir=pre_backup_to, jobs=jobs)
    _stderr().print(f"pre-restore backup: {result.pre_restore.dump}", markup=False)
    verdict = "restored and verified" if result.ok else "restored, but verification FAILED"
    _stdout().print(f"{verdict}: {dump.name}\n{steps_text(result.steps)}", markup=False)
    if not result.ok:
        raise typer.Exit(EXIT_FINDINGS)


def resolve_dump(path: Path) -> Path:
    """A dump path as given, or the newest dump of a backup directory."""
    from prodready.backup.model import manifest_path
    from prodready.backup.retention import list_backups

    if manifest_path(path).exists() or not path.is_dir():
        return path
    backups = list_backups(path)
    if not backups:
        raise UsageError(f"{path}: no prodready backups (no *.manifest.json) in this directory")
    return backups[0][0]
