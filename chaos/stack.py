"""The chaos run's own servers: PostgreSQL, the Temporal dev server, and `tokenbill api` and
`tokenbill worker` as child processes that the run kills and starts again."""

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen

from chaos.databases import ChaosDatabase, ExternalDatabase, LocalDatabase
from db.migrate import upgrade_to_head
from tokenbill.devstack.health import wait_until_healthy
from tokenbill.devstack.ports import free_port
from tokenbill.devstack.processes import kill_process, start_process, stop_process
from tokenbill.devstack.stripe_standin.faults import StandinFaults
from tokenbill.devstack.stripe_standin.process import STANDIN_API_KEY, StandinProcess
from tokenbill.devstack.temporal import LocalTemporal
from workflows.balance_check_types import (
    CHECK_AUTO_TOPUP_TRIGGERS_JOB,
    CHECK_LOW_BALANCE_THRESHOLDS_JOB,
)
from workflows.operations_job_types import SEND_SUBSCRIPTION_RENEWAL_REMINDERS_JOB
from workflows.purchase_recovery_types import RESUME_PENDING_PURCHASES_JOB
from workflows.subscription_billing_job import PROCESS_SUBSCRIPTION_BILLING_JOB

TOKENBILL = str(Path(sys.executable).parent / "tokenbill")
TASK_QUEUE = "tokenbill-chaos"
JWT_SECRET = "chaos-secret-long-enough-for-hs256-signatures"
# The safety-net jobs would repair what the primary paths miss: keep them out of the run, so the
# checks prove the paths themselves (a cron that falls once a year, on 1 January at midnight).
SAFETY_NETS = (
    RESUME_PENDING_PURCHASES_JOB, PROCESS_SUBSCRIPTION_BILLING_JOB,
    CHECK_LOW_BALANCE_THRESHOLDS_JOB, CHECK_AUTO_TOPUP_TRIGGERS_JOB,
    SEND_SUBSCRIPTION_RENEWAL_REMINDERS_JOB,
)  # fmt: skip
JOBS_OFF = json.dumps(dict.fromkeys(SAFETY_NETS, "0 0 1 1 *"))
# With --gateway stripe: the client gives up after 2 s; a lost answer hangs for 4 s.
STRIPE_CLIENT_TIMEOUT = "PT2S"
STANDIN_HANG_SECONDS = 4.0


@dataclass(frozen=True)
class GatewayFaultRates:
    fault_rate: float
    lost_response_rate: float
    seed: int


@dataclass
class ChaosProcess:
    """One tokenbill child process (`tokenbill <command>`); every start writes a numbered log of
    its own, `<name>-<start>.log`."""

    name: str
    command: str
    env: dict[str, str]
    log_dir: Path
    starts: int = 0
    process: Popen[bytes] | None = None

    def start(self, extra_env: dict[str, str] | None = None) -> None:
        self.starts += 1
        log = self.log_dir / f"{self.name}-{self.starts}.log"
        env = {**self.env, **(extra_env or {})}
        self.process = start_process([TOKENBILL, self.command], env=env, log_path=log)

    def kill(self) -> None:
        if self.process is not None:
            kill_process(self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def logs(self) -> list[Path]:
        return sorted(self.log_dir.glob(f"{self.name}-[0-9]*.log"))


@dataclass
class ChaosStack:
    work_dir: Path
    faults: GatewayFaultRates
    external_database_url: str | None = None
    api_count: int = 1
    worker_count: int = 1
    gateway: str = "sandbox"
    stripe: StandinProcess | None = field(init=False, default=None)
    database: ChaosDatabase = field(init=False)
    temporal: LocalTemporal = field(init=False)
    apis: list[ChaosProcess] = field(init=False)
    workers: list[ChaosProcess] = field(init=False)
    api_ports: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.database = (
            ExternalDatabase(self.external_database_url)
            if self.external_database_url
            else LocalDatabase(self.work_dir / "postgres")
        )
        self.temporal = LocalTemporal(log_path=self.work_dir / "logs" / "temporal.log")
        self.api_ports = [free_port() for _ in range(self.api_count)]
        if self.gateway == "stripe":
            # "Stripe" itself is never killed; its 5xx and lost answers are the gateway faults.
            self.stripe = StandinProcess(
                free_port(),
                self.work_dir / "logs" / "stripe-standin.log",
                StandinFaults(
                    error_rate=self.faults.fault_rate,
                    lost_answer_rate=self.faults.lost_response_rate,
                    hang_seconds=STANDIN_HANG_SECONDS,
                    seed=self.faults.seed,
                    log_path=self.work_dir / "logs" / "stripe-faults.jsonl",
                ),
            )

    @property
    def api_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.api_ports]

    def start(self) -> None:
        self.database.start()
        upgrade_to_head(self.database.url)
        self.temporal.start()
        if self.stripe is not None:
            self.stripe.start()
        env = self.environment()
        logs = self.work_dir / "logs"
        self.apis = [
            ChaosProcess(f"api-{number}", "api", {**env, "API_PORT": str(port)}, logs)
            for number, port in enumerate(self.api_ports, start=1)
        ]
        self.workers = [
            ChaosProcess(f"worker-{number}", "worker", env, logs)
            for number in range(1, self.worker_count + 1)
        ]
        for index in range(len(self.workers)):
            self.start_worker(index)
        for index in range(len(self.apis)):
            self.restart_api(index)

    def start_worker(self, index: int) -> None:
        """Each incarnation of each worker draws its own, still repeatable, gateway faults."""
        worker = self.workers[index]
        seed = self.faults.seed * 1000 + index * 100 + worker.starts
        worker.start({"SANDBOX_GATEWAY_FAULT_SEED": str(seed)})

    def restart_api(self, index: int) -> None:
        self.apis[index].start()
        wait_until_healthy(self.api_urls[index], 90.0)

    def restart_postgres(self, down_seconds: float) -> None:
        self.database.outage(down_seconds)

    def worker_logs(self) -> list[Path]:
        return [log for worker in self.workers for log in worker.logs()]

    def gateway_fault_logs(self) -> list[Path]:
        """Where the gateway wrote the faults it injected: the sandbox in each worker's log, the
        Stripe stand-in in a log of its own."""
        if self.stripe is not None and self.stripe.faults.log_path is not None:
            path = self.stripe.faults.log_path
            return [path] if path.exists() else []
        return self.worker_logs()

    def stop(self) -> None:
        for process in (*self.apis, *self.workers):
            process.stop()
        if self.stripe is not None:
            self.stripe.stop()
        self.temporal.stop()
        self.database.stop()

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "TEMPORAL"))}
        env.update(
            DATABASE_URL=self.database.url,
            TEMPORAL_ADDRESS=self.temporal.address,
            TEMPORAL_TASK_QUEUE=TASK_QUEUE,
            JWT_SECRET=JWT_SECRET,
            API_HOST="127.0.0.1",
            LOG_LEVEL="WARNING",
            LOG_TO_FILES="false",
            LOG_DIR=str(self.work_dir / "logs"),
            WORKER_METRICS_PORT="0",
            PURCHASE_RATE_LIMIT="100000",
            JOB_SCHEDULES=JOBS_OFF,
            # Charges take a moment, so a killed worker leaves some in flight.
            SANDBOX_GATEWAY_LATENCY="PT0.2S",
            SANDBOX_GATEWAY_FAULT_RATE=str(self.faults.fault_rate),
            SANDBOX_GATEWAY_LOST_RESPONSE_RATE=str(self.faults.lost_response_rate),
            TOKEN_SUBSCRIPTION_MINIMUM_INTERVAL="PT1S",
            TOKEN_SUBSCRIPTION_REMINDER_LEAD="PT1S",
            TOKEN_SUBSCRIPTION_DUNNING_SCHEDULE="PT2S,PT4S",
            TOKEN_AUTO_TOPUP_RETRY_BACKOFF="PT2S",
            # The relay looks often and takes back quickly what a killed worker had claimed.
            OUTBOX_RELAY_POLL_INTERVAL="PT2S",
            OUTBOX_STALE_AFTER="PT10S",
            WEBHOOK_TIMEOUT="PT2S",
            WEBHOOK_MAX_ATTEMPTS="3",
            WEBHOOK_RETRY_INITIAL_INTERVAL="PT1S",
            WEBHOOK_RETRY_MAX_INTERVAL="PT2S",
            # The webhook sink listens on 127.0.0.1.
            WEBHOOK_ALLOW_PRIVATE_ADDRESSES="true",
            WORKER_GRACEFUL_SHUTDOWN="PT2S",
        )
        if self.stripe is not None:
            env.update(
                PAYMENT_GATEWAY="stripe",
                STRIPE_SECRET_KEY=STANDIN_API_KEY,
                STRIPE_API_BASE=self.stripe.url,
                STRIPE_TIMEOUT=STRIPE_CLIENT_TIMEOUT,
            )
        return env
