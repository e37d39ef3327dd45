"""A charged purchase survives a database outage in the middle of its fulfilment: crediting and
invoicing wait for PostgreSQL to come back, and the purchase completes instead of being refunded.

The test runs a PostgreSQL of its own, so stopping it touches no other test.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from temporalio.client import Client, WorkflowHandle

from db.migrate import upgrade_to_head
from db.session import create_engine, create_session_maker
from tests.purchase_helpers import Maker, create_package, insert_purchase
from tokenbill.devstack.postgres import LocalPostgres
from tokenbill.settings import Settings, to_libpq_url
from worker.main import build_worker
from workflows.purchase_activity_types import STATUS_QUERY
from workflows.purchase_types import PURCHASE_WORKFLOW, PurchaseResult, purchase_workflow_id

OUTAGE = timedelta(minutes=2)


@pytest.fixture(scope="module")
def own_postgres(work_dir: Path) -> Iterator[LocalPostgres]:
    server = LocalPostgres(work_dir / "outage-postgres", fast_unsafe=True).start()
    upgrade_to_head(server.url)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
async def own_database(
    own_postgres: LocalPostgres, settings: Settings
) -> AsyncIterator[tuple[Settings, Maker]]:
    own = settings.model_copy(update={"database_url": own_postgres.url})
    engine = create_engine(own, pool_size=5)
    try:
        yield own, create_session_maker(engine)
    finally:
        await engine.dispose()


async def until_step(handle: WorkflowHandle[object, object], step: str) -> None:
    for _ in range(300):
        if await handle.query(STATUS_QUERY, result_type=str) == step:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the purchase never reached {step}")


@pytest.mark.timeout(480)
async def test_database_down_for_two_minutes_during_invoicing_still_completes_the_purchase(
    temporal_client: Client,
    own_postgres: LocalPostgres,
    own_database: tuple[Settings, Maker],
):
    settings, session_maker = own_database
    async with session_maker() as session, session.begin():
        organization_id = await session.scalar(
            text("INSERT INTO organizations (name) VALUES ('Outage Health') RETURNING id")
        )
    purchase = await insert_purchase(
        session_maker, int(organization_id), await create_package(session_maker)
    )
    queue = f"purchase-outage-{uuid.uuid4().hex}"
    # Invoicing waits on this lock, so the outage starts while the invoice is being issued.
    blocker = psycopg.connect(to_libpq_url(own_postgres.url))
    blocker.execute("LOCK TABLE invoices IN ACCESS EXCLUSIVE MODE")
    async with build_worker(temporal_client, settings, session_maker, task_queue=queue):
        handle = await temporal_client.start_workflow(
            PURCHASE_WORKFLOW,
            purchase,
            id=purchase_workflow_id(purchase.purchase_reference_id),
            task_queue=queue,
            result_type=PurchaseResult,
            execution_timeout=timedelta(minutes=7),
        )
        await until_step(handle, "invoicing")
        await asyncio.to_thread(own_postgres.stop)  # ends the blocker's session too
        blocker.close()
        await asyncio.sleep(OUTAGE.total_seconds())
        await asyncio.to_thread(own_postgres.start)
        result = await asyncio.wait_for(handle.result(), timeout=180)

    assert (result.status, result.failure_reason) == ("completed", None)
    async with session_maker() as session:
        row = (
            await session.execute(
                text(
                    "SELECT p.status, p.gateway_refund_id, i.status AS invoice_status, "
                    "w.current_balance FROM token_purchases p JOIN invoices i ON i.id = "
                    "p.invoice_id JOIN organization_token_wallets w ON w.id = p.wallet_id "
                    "WHERE p.purchase_reference_id = :r"
                ),
                {"r": purchase.purchase_reference_id},
            )
        ).one()
        refunds = await session.scalar(
            text(
                "SELECT count(*) FROM payment_gateway_operations WHERE operation = 'refund' "
                "AND idempotency_key LIKE :k"
            ),
            {"k": f"purchase:{purchase.purchase_reference_id}:%"},
        )
    assert (row.status, row.gateway_refund_id, row.invoice_status) == ("completed", None, "paid")
    assert Decimal(row.current_balance) == Decimal("500")
    assert refunds == 0
