"""The operations jobs on the Temporal dev server, with an in-process worker of their own."""

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from db import ledger
from db.models import TokenLot
from db.session import create_engine, create_session_maker
from tests.database_helpers import credit_wallet
from tests.history_recording import record_histories
from tokenbill.settings import Settings
from worker.registry import WORKFLOWS, build_activities
from workflows.job_types import JobInput, JobResult

Maker = async_sessionmaker[AsyncSession]


@pytest.fixture(scope="session")
def jobs_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "token_expiration_enabled": True,
            "temporal_task_queue": f"operations-jobs-{uuid.uuid4().hex}",
            "job_batch_size": 7,
        }
    )


@pytest.fixture(scope="session")
async def jobs_queue(
    temporal_client: Client, jobs_settings: Settings, session_maker: Maker
) -> AsyncIterator[str]:
    queue = jobs_settings.temporal_task_queue
    async with Worker(
        temporal_client,
        task_queue=queue,
        workflows=WORKFLOWS,
        activities=build_activities(jobs_settings, session_maker, temporal_client),
    ):
        yield queue


@pytest.fixture(scope="session")
async def owner_session_maker(db_settings: Settings) -> AsyncIterator[Maker]:
    """The database login's own rights (superuser in tests): for breaking the books on purpose
    and for back-dating history, which the application role may not do."""
    engine = create_engine(db_settings.model_copy(update={"database_assume_app_role": False}))
    yield create_session_maker(engine)
    await engine.dispose()


async def run_job(
    client: Client, queue: str, workflow: str, *, history: str | None = None
) -> JobResult:
    """Run the job to its end; with `history`, record it for the replay test under that name."""
    workflow_id = f"test-{workflow}-{uuid.uuid4().hex}"
    result: JobResult = await client.execute_workflow(
        workflow, JobInput(), id=workflow_id, task_queue=queue, result_type=JobResult
    )
    if history is not None:
        await record_histories(client, workflow_id, history)
    return result


async def credit(
    session_maker: Maker, organization_id: int, amount: str, *, expires_at: datetime | None = None
) -> tuple[int, int]:
    """Credit a new lot; returns (wallet id, lot id)."""
    wallet_id, transaction_id = await credit_wallet(
        session_maker, organization_id, amount, expires_at=expires_at
    )
    async with session_maker() as session:
        lot_id = await session.scalar(
            select(TokenLot.id).where(TokenLot.transaction_id == transaction_id)
        )
    assert lot_id is not None
    return wallet_id, int(lot_id)


async def spend(session_maker: Maker, wallet_id: int, amount: str) -> int:
    async with session_maker() as session, session.begin():
        posting = await ledger.debit(
            session,
            wallet_id=wallet_id,
            amount=Decimal(amount),
            idempotency_key=f"test:{uuid.uuid4()}",
        )
    return posting.transaction_id
