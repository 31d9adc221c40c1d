"""Render the scheduled job (backup, drill, retention) for cron, systemd or Kubernetes."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import yaml

from prodready.pg.connection import redact_dsn

FORMATS = ("cron", "systemd", "kubernetes")


@dataclass(frozen=True)
class Job:
    """What runs: the DSN is redacted; passwords come from ~/.pgpass, PGPASSWORD or a secret."""

    db: str
    to: str
    scratch: str | None
    keep_last: int | None
    keep_days: float | None
    jobs: int
    hour: int = 3
    minute: int = 17

    def backup_args(self, db_ref: str) -> list[str]:
        args = ["prodready", "backup", "--db", db_ref, "--to", self.to]
        if self.jobs > 1:
            args += ["--jobs", str(self.jobs)]
        if self.keep_last is not None:
            args += ["--keep-last", str(self.keep_last)]
        if self.keep_days is not None:
            args += ["--keep-days", f"{self.keep_days:g}"]
        return args

    def verify_args(self, scratch_ref: str) -> list[str]:
        return ["prodready", "backup", "verify", self.to, "--scratch", scratch_ref]


def _shell(args: list[str]) -> str:
    # "$VAR" references must stay expandable; everything else is quoted literally
    return " ".join(a if a.startswith('"$') else shlex.quote(a) for a in args)


def render_schedule(job: Job, fmt: str) -> str:
    return {"cron": _cron, "systemd": _systemd, "kubernetes": _kubernetes}[fmt](job)


def _script(job: Job, db_ref: str, scratch_ref: str) -> str:
    """Backup (retention runs only after it is verified by checksum), then the restore drill."""
    return f"{_shell(job.backup_args(db_ref))} && {_shell(job.verify_args(scratch_ref))}"


def _cron(job: Job) -> str:
    db = redact_dsn(job.db)
    scratch = redact_dsn(job.scratch) if job.scratch else '"$PRODREADY_SCRATCH_URL"'
    return (
        "# prodready: nightly backup + restore drill + retention.\n"
        "# Passwords come from ~/.pgpass (or PGPASSFILE) of the user running cron.\n"
        + (
            ""
            if job.scratch
            else "# Set PRODREADY_SCRATCH_URL (no password) at the top of the crontab.\n"
        )
        + f"{job.minute} {job.hour} * * * {{ {_script(job, db, scratch)}; }}"
        " >> /var/log/prodready-backup.log 2>&1\n"
    )


def _systemd(job: Job) -> str:
    db = redact_dsn(job.db)
    scratch = redact_dsn(job.scratch) if job.scratch else '"$PRODREADY_SCRATCH_URL"'
    command = _script(job, db, scratch).replace("%", "%%")  # systemd expands % specifiers
    return (
        "# /etc/systemd/system/prodready-backup.service\n"
        "[Unit]\nDescription=prodready backup and restore drill\n"
        "After=network-online.target\n\n"
        "[Service]\nType=oneshot\n"
        "# PGPASSFILE or PGPASSWORD (and PRODREADY_SCRATCH_URL) live here, not in the unit\n"
        "EnvironmentFile=-/etc/prodready/backup.env\n"
        f"ExecStart=/bin/sh -c {shlex.quote(command)}\n\n"
        "# /etc/systemd/system/prodready-backup.timer\n"
        "[Unit]\nDescription=nightly prodready backup\n\n"
        f"[Timer]\nOnCalendar=*-*-* {job.hour:02d}:{job.minute:02d}:00\n"
        "Persistent=true\n\n[Install]\nWantedBy=timers.target\n"
    )


def _kubernetes(job: Job) -> str:
    command = _script(job, '"$DATABASE_URL"', '"$PRODREADY_SCRATCH_URL"')
    secret = {"secretKeyRef": {"name": "prodready-backup", "key": "database-url"}}
    scratch = {"secretKeyRef": {"name": "prodready-backup", "key": "scratch-url"}}
    manifest = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "prodready-backup"},
        "spec": {
            "schedule": f"{job.minute} {job.hour} * * *",
            "concurrencyPolicy": "Forbid",
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 0,
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [
                                {
                                    "name": "backup",
                                    "image": "prodready:latest",
                                    "command": ["/bin/sh", "-c", command],
                                    "env": [
                                        {"name": "DATABASE_URL", "valueFrom": secret},
                                        {"name": "PRODREADY_SCRATCH_URL", "valueFrom": scratch},
                                    ],
                                    "volumeMounts": [{"name": "backups", "mountPath": job.to}],
                                }
                            ],
                            "volumes": [
                                {
                                    "name": "backups",
                                    "persistentVolumeClaim": {"claimName": "prodready-backups"},
                                }
                            ],
                        }
                    },
                }
            },
        },
    }
    header = (
        "# prodready backup CronJob. Create the secret first (passwords never go in here):\n"
        "#   kubectl create secret generic prodready-backup \\\n"
        "#     --from-literal=database-url=... --from-literal=scratch-url=...\n"
    )
    return header + yaml.safe_dump(manifest, sort_keys=False)
