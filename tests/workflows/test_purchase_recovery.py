"""The resumePendingPurchases safety net starts accepted purchases that never got a workflow."""

import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from temporalio.client import Client

from tests.history_recording import record_histories
from tests.purchase_helpers import Maker, create_package, insert_purchase
from tokenbill.settings import Settings
from worker.main import build_worker
from workflows.job_types import JobResult
from workflows.purchase_recovery_types import RESUME_PENDING_PURCHASES_WORKFLOW
from workflows.purchase_types import PurchaseResult, purchase_workflow_id


async def test_stalled_pending_purchase_is_started_and_completes_once(
    temporal_client: Client,
    settings: Settings,
    session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
):
    org = await make_organization()
    package = await create_package(session_maker)
    stalled = await insert_purchase(session_maker, org, package)
    fresh = await insert_purchase(session_maker, org, package)
    async with session_maker() as session, session.begin():
        await session.execute(
            text(
                "UPDATE token_purchases SET created_at = now() - interval '10 minutes' "
                "WHERE purchase_reference_id = :r"
            ),
            {"r": stalled.purchase_reference_id},
        )
    queue = f"recovery-tests-{uuid.uuid4().hex}"
    async with build_worker(temporal_client, settings, session_maker, task_queue=queue):
        first_id = f"recovery-{uuid.uuid4().hex}"
        first = await temporal_client.execute_workflow(
            RESUME_PENDING_PURCHASES_WORKFLOW,
            id=first_id,
            task_queue=queue,
            result_type=JobResult,
        )
        stalled_id = purchase_workflow_id(stalled.purchase_reference_id)
        outcome = await temporal_client.get_workflow_handle(
            stalled_id, result_type=PurchaseResult
        ).result()
        await temporal_client.execute_workflow(  # a second run moves nothing twice
            RESUME_PENDING_PURCHASES_WORKFLOW,
            id=f"recovery-{uuid.uuid4().hex}",
            task_queue=queue,
            result_type=JobResult,
        )

    await record_histories(temporal_client, first_id, "resume-pending-purchases")
    assert first.counts.details["started"] >= 1
    assert first.status == "succeeded"
    assert outcome.status == "completed"
    async with session_maker() as session:
        statuses: dict[str, str] = dict(
            (
                await session.execute(
                    text(
                        "SELECT purchase_reference_id, status FROM token_purchases "
                        "WHERE organization_id = :o"
                    ),
                    {"o": org},
                )
            ).all()
        )
        credits = await session.scalar(
            text("SELECT count(*) FROM ledger_transactions WHERE idempotency_key = :k"),
            {"k": f"purchase:{stalled.purchase_reference_id}:credit"},
        )
    # The fresh one is younger than the resume age: the API may still be starting it.
    assert statuses == {stalled.purchase_reference_id: "completed",
                        fresh.purchase_reference_id: "pending"}  # fmt: skip
    assert credits == 1
