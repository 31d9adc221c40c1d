"""An ephemeral local PostgreSQL cluster for tests, benchmarks and the demo.

It uses the system's server binaries, listens on 127.0.0.1 only, preloads
pg_stat_statements, and runs as the `postgres` system user when we are root
(initdb refuses to run as root).
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from prodready.errors import TargetError

SUPERUSER = "postgres"


def find_bindir() -> Path:
    """The directory holding initdb/pg_ctl/postgres: pg_config's, else the newest Debian one."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            )
            candidates.append(Path(out.stdout.strip()))
        except (subprocess.SubprocessError, OSError):
            pass
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    candidates.extend(Path(p) for p in debian)
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    raise TargetError(
        "no PostgreSQL server binaries found (install postgresql-15 or put pg_config on PATH)"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def hypopg_available(bindir: Path) -> bool:
    """True when the hypopg extension files are installed for this server."""
    sharedir = _pg_sharedir(bindir)
    return sharedir is not None and (sharedir / "extension" / "hypopg.control").exists()


def _pg_sharedir(bindir: Path) -> Path | None:
    pg_config = bindir / "pg_config"
    if not pg_config.exists():
        version = bindir.parent.name
        guess = Path(f"/usr/share/postgresql/{version}")
        return guess if guess.exists() else None
    out = subprocess.run([str(pg_config), "--sharedir"], capture_output=True, text=True, timeout=10)
    return Path(out.stdout.strip()) if out.returncode == 0 else None


@dataclass
class LocalCluster:
    """A throwaway cluster: `start()`, use `dsn()`, `stop()` (also on interpreter exit)."""

    port: int = 0
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    settings: dict[str, str] = field(default_factory=dict)
    bindir: Path = field(default_factory=find_bindir)
    root: Path | None = None
    running: bool = False

    @property
    def datadir(self) -> Path:
        assert self.root is not None, "cluster not initialised"
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        assert self.root is not None, "cluster not initialised"
        return self.root / "postgres.log"

    def dsn(
        self, dbname: str = "postgres", user: str = SUPERUSER, password: str | None = None
    ) -> str:
        pw = self.password if password is None else password
        return f"host=127.0.0.1 port={self.port} dbname={dbname} user={user} password={pw}"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    @property
    def has_hypopg(self) -> bool:
        return hypopg_available(self.bindir)

    def start(self) -> LocalCluster:
        if self.running:
            return self  # `with LocalCluster().start()` must not start (and orphan) a second one
        self.root = Path(tempfile.mkdtemp(prefix="prodready-pg-"))
        self._give_to_postgres(self.root)
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        self._give_to_postgres(pwfile)
        self._run(
            "initdb", "-D", str(self.datadir), "-U", SUPERUSER, "--pwfile", str(pwfile),
            "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
            "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        pwfile.unlink()
        self.port = self.port or free_port()
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
            "shared_preload_libraries": "'pg_stat_statements'",
            "pg_stat_statements.track": "all",
            "max_connections": "100",
            "shared_buffers": "256MB",
            "synchronous_commit": "off",
            "log_min_messages": "warning",
            "max_locks_per_transaction": "256",
            **self.settings,
        }
        with (self.datadir / "postgresql.conf").open("a") as fh:
            fh.write("\n# prodready local cluster\n")
            for key, value in conf.items():
                fh.write(f"{key} = {value}\n")
        self._run("pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", "60",
                  "start")  # fmt: skip
        self.running = True
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        if self.running:
            self.running = False
            self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop", check=False)
        if self.root is not None and self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- running server binaries as the right user --

    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _give_to_postgres(self, path: Path) -> None:
        if self._as_root():
            user = pwd.getpwnam(SUPERUSER)
            os.chown(path, user.pw_uid, user.pw_gid)

    def _run(self, program: str, *args: str, check: bool = True) -> None:
        command = [str(self.bindir / program), *args]
        if self._as_root():
            command = ["runuser", "-u", SUPERUSER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            log = ""
            if self.root is not None and self.logfile.exists():
                log = self.logfile.read_text(errors="replace")[-2000:]
            raise TargetError(
                f"{program} failed ({result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-500:]} {log}".strip()
            )
