"""The servers a bench run measures, all started by the run and all stopped by it: PostgreSQL
(durable: fsync and synchronous commit on), the Temporal dev server, the API (uvicorn), the
tokenbill worker and the bench's own baseline worker, each on a free port; and, for the scale-out
section, more API processes (each on a port of its own) and tokenbill workers beside them."""

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen

from db.migrate import upgrade_to_head
from tokenbill.devstack.ports import free_port, wait_for_port
from tokenbill.devstack.postgres import LocalPostgres
from tokenbill.devstack.processes import start_process, stop_process
from tokenbill.devstack.temporal import LocalTemporal
from tokenbill.settings import Settings
from worker.registry import JOB_SCHEDULES

REPOSITORY = Path(__file__).resolve().parent.parent
TASK_QUEUE = "tokenbill-bench"
JWT_SECRET = "tokenbill-bench-secret-of-at-least-32-bytes"
NEVER = "0 0 1 1 *"  # background jobs stay out of the measurement (once a year)


@dataclass(frozen=True)
class StackOptions:
    api_workers: int
    spend_pool_size: int
    extra_env: dict[str, str] = field(default_factory=dict)  # for every child process


@dataclass
class BenchStack:
    """The running servers; `stop` ends every process this run started."""

    folder: Path
    options: StackOptions
    postgres: LocalPostgres | None = None
    temporal: LocalTemporal | None = None
    api_ports: list[int] = field(default_factory=list)
    processes: dict[str, Popen[bytes]] = field(default_factory=dict)

    @property
    def api_port(self) -> int:
        """The first API's port: every section but the scale-out talks to it alone."""
        return self.api_ports[0]

    @property
    def settings(self) -> Settings:
        assert self.postgres is not None and self.temporal is not None
        return Settings(
            _env_file=None, database_url=self.postgres.url,
            temporal_address=self.temporal.address, temporal_task_queue=TASK_QUEUE,
            jwt_secret=JWT_SECRET, worker_metrics_port=0, log_to_files=False,
        )  # fmt: skip

    @property
    def database_url(self) -> str:
        assert self.postgres is not None
        return self.postgres.url

    def start(self) -> "BenchStack":
        self.postgres = LocalPostgres(self.folder / "postgres").start()
        self.temporal = LocalTemporal(log_path=self.folder / "logs" / "temporal.log").start()
        upgrade_to_head(self.postgres.url)
        self._start("baseline worker", [sys.executable, "-m", "bench.baseline_worker"])
        self.scale_to(1)
        return self

    @property
    def process_count(self) -> int:
        """API processes (and tokenbill workers, as many) running."""
        return len(self.api_ports)

    def scale_to(self, count: int) -> None:
        """Start API processes and tokenbill workers until `count` of each run (the first pair
        is named `api` and `worker`, the next `api 2` and `worker 2`, ...)."""
        while self.process_count < count:
            suffix = f" {self.process_count + 1}" if self.api_ports else ""
            port = free_port()
            self._start(
                f"worker{suffix}", [str(Path(sys.executable).parent / "tokenbill"), "worker"]
            )
            api = [
                sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host",
                "127.0.0.1", "--port", str(port), "--log-level", "warning",
                "--no-access-log", "--workers", str(self.options.api_workers),
            ]  # fmt: skip
            self._start(f"api{suffix}", api)
            wait_for_port(port)
            self.api_ports.append(port)

    def pid(self, name: str) -> int:
        return self.processes[name].pid

    def check_running(self) -> None:
        """Fail the run when a server this run started has exited (killed from outside)."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"the {name} exited with status {process.returncode}")

    def process_groups(self) -> dict[str, int]:
        """Every server's process group (each child leads its own), by name."""
        groups = {name: process.pid for name, process in self.processes.items()}
        for name, server in (("temporal", self.temporal), ("postgres", self.postgres)):
            if server is not None and server.process is not None:
                groups[name] = server.process.pid
        return groups

    def stop(self) -> None:
        for name in list(self.processes):
            stop_process(self.processes.pop(name), timeout=30)
        if self.temporal is not None:
            self.temporal.stop()
        if self.postgres is not None:
            self.postgres.stop()

    def _start(self, name: str, args: list[str]) -> None:
        log = self.folder / "logs" / f"{name.replace(' ', '-')}.log"
        self.processes[name] = start_process(args, env=self._env(), log_path=log, cwd=REPOSITORY)

    def _env(self) -> dict[str, str]:
        settings = self.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "TEMPORAL"))}
        env.update(
            DATABASE_URL=self.database_url,
            TEMPORAL_ADDRESS=str(settings.temporal_address),
            TEMPORAL_TASK_QUEUE=TASK_QUEUE,
            JWT_SECRET=JWT_SECRET,
            LOG_LEVEL="WARNING",
            LOG_TO_FILES="false",
            WORKER_METRICS_PORT="0",
            PURCHASE_RATE_LIMIT="1000000000",
            SPEND_POOL_SIZE=str(self.options.spend_pool_size),
            JOB_SCHEDULES=json.dumps({job.name: NEVER for job in JOB_SCHEDULES}),
            PYTHONPATH=str(REPOSITORY),
        )
        env.update(self.options.extra_env)
        return env
