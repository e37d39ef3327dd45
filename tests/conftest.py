"""Session fixtures: a real PostgreSQL and real Temporal servers from the project's wheels.

Each server starts on free ports in a temporary folder, so `make test` also runs beside `make dev`.
TEST_DATABASE_URL points the suite at an existing (empty or tokenbill-migrated) database instead.
"""

import itertools
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from db.migrate import upgrade_to_head
from db.session import create_engine, create_session_maker
from db.spend_pool import SpendPool, create_spend_pool
from tokenbill.devstack.postgres import LocalPostgres
from tokenbill.devstack.temporal import LocalTemporal, temporal_test_server_path
from tokenbill.settings import Settings
from workflows.converter import DATA_CONVERTER

_exit_status = 0
E2E_NAMESPACE = "tokenbill-e2e"
# The end-to-end stack on the Stripe gateway (the local stand-in): a namespace of its own too.
E2E_STRIPE_NAMESPACE = "tokenbill-e2e-stripe"
# The running stack (API and worker as child processes), for tests/e2e and tests/web/browser.
pytest_plugins = ("tests.running_stack", "tests.payment_gateways")


@pytest.fixture(scope="session")
def work_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="tokenbill-test-") as folder:
        yield Path(folder)


@pytest.fixture(scope="session")
def postgres(work_dir: Path) -> Iterator[LocalPostgres | None]:
    if os.environ.get("TEST_DATABASE_URL"):
        yield None
        return
    server = LocalPostgres(work_dir / "postgres", fast_unsafe=True).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def database_url(postgres: LocalPostgres | None) -> str:
    url = os.environ.get("TEST_DATABASE_URL") or (postgres.url if postgres else "")
    upgrade_to_head(url)
    return url


@pytest.fixture(scope="session")
def temporal_dev_server(work_dir: Path) -> Iterator[LocalTemporal]:
    # The end-to-end stack gets a namespace of its own: its worker's schedules and singleton
    # workflows (the outbox relay) never meet the in-process workers of the other tests.
    server = LocalTemporal(
        log_path=work_dir / "temporal.log", namespaces=(E2E_NAMESPACE, E2E_STRIPE_NAMESPACE)
    ).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def settings(database_url: str, temporal_dev_server: LocalTemporal) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        temporal_address=temporal_dev_server.address,
        temporal_task_queue="tokenbill-test",
        jwt_secret="test-secret-that-is-long-enough-for-hs256",
        purchase_rate_limit=10_000,
    )


@pytest.fixture(scope="session")
def db_settings(database_url: str) -> Settings:
    """Settings for tests that need only the database (no Temporal server started)."""
    return Settings(
        _env_file=None,
        database_url=database_url,
        jwt_secret="test-secret-that-is-long-enough-for-hs256",
        purchase_rate_limit=10_000,
    )


@pytest.fixture
async def pool(db_settings: Settings) -> AsyncIterator[SpendPool]:
    """A spend pool on the test database, as the API's spend path has one."""
    pool = create_spend_pool(db_settings, size=4)
    await pool.open()
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture(scope="session")
async def engine(db_settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_settings, pool_size=40)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def session_maker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_maker(engine)


_organization_numbers = itertools.count(1)


@pytest.fixture
def make_organization(
    session_maker: async_sessionmaker[AsyncSession],
) -> Callable[..., Awaitable[int]]:
    """Create a fresh organization, so tests never share a wallet."""

    async def make(name: str | None = None) -> int:
        async with session_maker() as session, session.begin():
            org_id = await session.scalar(
                text("INSERT INTO organizations (name) VALUES (:n) RETURNING id"),
                {"n": name or f"Test Organization {next(_organization_numbers)}"},
            )
        assert org_id is not None
        return int(org_id)

    return make


@pytest.fixture(scope="session")
async def temporal_client(temporal_dev_server: LocalTemporal) -> Client:
    return await Client.connect(temporal_dev_server.address, data_converter=DATA_CONVERTER)


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(temporal_test_server_path()),
        data_converter=DATA_CONVERTER,
    )
    try:
        yield env
    finally:
        await env.shutdown()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # The Temporal core's threads can abort the interpreter at exit (PyGILState_Release while
    # finalizing) after every test passed: leave with pytest's own status instead.
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status)
