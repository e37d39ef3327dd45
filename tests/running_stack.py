"""The running stack for end-to-end and browser tests: `tokenbill api` and `tokenbill worker` as
real child processes against the session's PostgreSQL and Temporal dev server (a plugin of the
root conftest, so tests/e2e and tests/web/browser share one stack per session).

The stack gets a database of its own beside its namespace: its worker runs the outbox relay and
the schedules for as long as the session lasts, and over the shared database it would claim the
other tests' events and start their deliveries and top-ups in its namespace, where those tests
cannot find them.
"""

import os
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from db.migrate import upgrade_to_head
from db.session import create_engine, create_session_maker
from tests.conftest import E2E_NAMESPACE, E2E_STRIPE_NAMESPACE
from tokenbill.devstack.databases import drop_database, recreate_database
from tokenbill.devstack.health import wait_until_healthy
from tokenbill.devstack.ports import free_port
from tokenbill.devstack.processes import kill_process, start_process, stop_process
from tokenbill.devstack.stripe_standin.faults import StandinFaults
from tokenbill.devstack.stripe_standin.process import StandinProcess
from tokenbill.devstack.temporal import LocalTemporal
from tokenbill.settings import Settings
from workflows.converter import DATA_CONVERTER

TOKENBILL = str(Path(sys.executable).parent / "tokenbill")
E2E_DATABASE = "tokenbill_e2e"
E2E_STRIPE_DATABASE = "tokenbill_e2e_stripe"


@dataclass
class StackProcess:
    """One tokenbill child process that a test may kill and start again."""

    args: list[str]
    env: dict[str, str]
    log_path: Path
    process: Popen[bytes] | None = None

    def start(self) -> None:
        self.process = start_process([TOKENBILL, *self.args], env=self.env, log_path=self.log_path)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def kill(self) -> None:
        """SIGKILL, as a crash: no graceful shutdown, in-flight activities abandoned."""
        if self.process is not None:
            kill_process(self.process)


@dataclass
class RunningStack:
    settings: Settings
    api_url: str
    api: StackProcess
    worker: StackProcess
    extra_workers: list[StackProcess] = field(default_factory=list)

    def client(self, token: str | None = None, timeout: float = 30.0) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.api_url, headers=headers, timeout=timeout)


def stack_environment(settings: Settings, api_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "TEMPORAL"))}
    env.update(
        DATABASE_URL=str(settings.database_url),
        TEMPORAL_ADDRESS=str(settings.temporal_address),
        TEMPORAL_NAMESPACE=E2E_NAMESPACE,
        TEMPORAL_TASK_QUEUE="tokenbill-e2e",
        JWT_SECRET=settings.jwt_secret,
        API_HOST="127.0.0.1",
        API_PORT=str(api_port),
        PURCHASE_RATE_LIMIT=str(settings.purchase_rate_limit),
        LOG_LEVEL="INFO",
        # Charges take a moment, as at a real processor, so a killed worker leaves some in flight.
        SANDBOX_GATEWAY_LATENCY="PT0.3S",
        # Second-long subscription cycles and dunning; the hourly safety net stays out of the way.
        TOKEN_SUBSCRIPTION_MINIMUM_INTERVAL="PT1S",
        TOKEN_SUBSCRIPTION_REMINDER_LEAD="PT1S",
        TOKEN_SUBSCRIPTION_DUNNING_SCHEDULE="PT2S,PT4S",
        JOB_SCHEDULES='{"processSubscriptionBilling": "0 0 1 1 *"}',
    )
    return env


@pytest.fixture(scope="session")
def e2e_settings(settings: Settings, database_url: str) -> Iterator[Settings]:
    """The session's settings over a migrated database of the end-to-end stack's own."""
    url = recreate_database(database_url, E2E_DATABASE)
    upgrade_to_head(url)
    try:
        yield settings.model_copy(update={"database_url": url})
    finally:
        drop_database(database_url, E2E_DATABASE)


@pytest.fixture(scope="session")
async def stack_session_maker(
    e2e_settings: Settings,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the stack's own database, for the tests that read and seed it."""
    engine = create_engine(e2e_settings, pool_size=20)
    try:
        yield create_session_maker(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def running_stack(e2e_settings: Settings, work_dir: Path) -> Iterator[RunningStack]:
    settings = e2e_settings
    port = free_port()
    env = stack_environment(settings, port)
    logs = work_dir / "e2e-logs"
    api = StackProcess(["api"], env, logs / "api.log")
    worker = StackProcess(["worker"], env, logs / "worker.log")
    stack = RunningStack(
        settings=settings.model_copy(
            update={"temporal_task_queue": "tokenbill-e2e", "temporal_namespace": E2E_NAMESPACE}
        ),
        api_url=f"http://127.0.0.1:{port}",
        api=api,
        worker=worker,
    )
    worker.start()
    api.start()
    try:
        wait_until_healthy(stack.api_url)
        yield stack
    finally:
        api.stop()
        worker.stop()


@pytest.fixture(scope="session")
def stripe_e2e_settings(settings: Settings, database_url: str) -> Iterator[Settings]:
    """Settings over a migrated database of the Stripe end-to-end stack's own."""
    url = recreate_database(database_url, E2E_STRIPE_DATABASE)
    upgrade_to_head(url)
    try:
        yield settings.model_copy(update={"database_url": url})
    finally:
        drop_database(database_url, E2E_STRIPE_DATABASE)


@pytest.fixture(scope="session")
async def stripe_stack_session_maker(
    stripe_e2e_settings: Settings,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(stripe_e2e_settings, pool_size=10)
    try:
        yield create_session_maker(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def stripe_standin_process(work_dir: Path) -> Iterator[StandinProcess]:
    """The Stripe stand-in as its own process, as `tokenbill dev` and chaos run it."""
    standin = StandinProcess(
        free_port(), work_dir / "e2e-stripe-logs" / "standin.log", StandinFaults(hang_seconds=6)
    )
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()


@pytest.fixture(scope="session")
def stripe_running_stack(
    stripe_e2e_settings: Settings, work_dir: Path, stripe_standin_process: StandinProcess
) -> Iterator[RunningStack]:
    """The running stack with PAYMENT_GATEWAY=stripe against the stand-in."""
    settings = stripe_e2e_settings
    port = free_port()
    env = stack_environment(settings, port)
    env.update(
        TEMPORAL_NAMESPACE=E2E_STRIPE_NAMESPACE,
        TEMPORAL_TASK_QUEUE="tokenbill-e2e-stripe",
        PAYMENT_GATEWAY="stripe",
        STRIPE_SECRET_KEY=stripe_standin_process.api_key,
        STRIPE_API_BASE=stripe_standin_process.url,
        STRIPE_TIMEOUT="PT3S",
    )
    logs = work_dir / "e2e-stripe-logs"
    api = StackProcess(["api"], env, logs / "api.log")
    worker = StackProcess(["worker"], env, logs / "worker.log")
    stack = RunningStack(
        settings=settings.model_copy(
            update={
                "temporal_task_queue": "tokenbill-e2e-stripe",
                "temporal_namespace": E2E_STRIPE_NAMESPACE,
            }
        ),
        api_url=f"http://127.0.0.1:{port}",
        api=api,
        worker=worker,
    )
    worker.start()
    api.start()
    try:
        wait_until_healthy(stack.api_url)
        yield stack
    finally:
        api.stop()
        worker.stop()


@pytest.fixture(scope="session")
async def e2e_temporal_client(temporal_dev_server: LocalTemporal) -> Client:
    """A client of the end-to-end stack's namespace."""
    return await Client.connect(
        temporal_dev_server.address, namespace=E2E_NAMESPACE, data_converter=DATA_CONVERTER
    )
