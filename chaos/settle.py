"""After the traffic: end the subscriptions, wait (with a timeout) for every workflow and every
notification to finish, then run the reconciliation job as ops would."""

import asyncio
import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from chaos.book import Book, OrgPlan
from chaos.client import GaveUp, ResilientClient
from tokenbill.job_commands import run_job_now
from workflows.operations_job_types import RECONCILE_WALLET_BALANCES_JOB
from workflows.purchase_types import PURCHASE_WORKFLOW
from workflows.subscription_types import SUBSCRIPTION_WORKFLOW

UNSETTLED_SQL = {
    "purchases not finished": "SELECT count(*) FROM token_purchases "
    "WHERE status IN ('pending', 'processing')",
    "outbox events not handed on": "SELECT count(*) FROM notification_events "
    "WHERE status IN ('pending', 'dispatched')",
    "low-balance notifications not delivered": "SELECT count(*) FROM low_balance_notifications "
    "WHERE status = 'pending'",
    "webhook deliveries pending": "SELECT count(*) FROM webhook_deliveries "
    "WHERE status = 'pending'",
    "top-ups in flight": "SELECT count(*) FROM auto_topups WHERE outcome = 'purchasing'",
}
RUNNING = "WorkflowType = '{}' AND ExecutionStatus = 'Running'"


@dataclass(frozen=True)
class Settled:
    seconds: float
    unsettled: dict[str, int]
    reconciliation_workflow: str


async def cancel_subscriptions(client: ResilientClient, plans: list[OrgPlan], book: Book) -> None:
    """Each organization cancels its subscription at once, as a customer leaving would."""
    tokens = {plan.organization_id: plan.token for plan in plans}
    for subscription_id, organization_id in book.subscriptions.items():
        try:
            await client.send(
                "POST",
                f"/api/tokens/subscriptions/{subscription_id}/cancel",
                credential=tokens[organization_id],
                body={"when": "immediately"},
                idempotency_key=uuid.uuid4().hex,
            )
        except GaveUp as gave_up:
            book.unanswered.append(str(gave_up))


async def unsettled(
    session_maker: async_sessionmaker[AsyncSession], temporal: Client
) -> dict[str, int]:
    """What is still under way (empty when the system has settled)."""
    found: dict[str, int] = {}
    async with session_maker() as session:
        for what, sql in UNSETTLED_SQL.items():
            count = int(await session.scalar(text(sql)) or 0)
            if count:
                found[what] = count
    for name in (PURCHASE_WORKFLOW, SUBSCRIPTION_WORKFLOW):
        running = (await temporal.count_workflows(RUNNING.format(name))).count
        if running:
            found[f"{name} runs open"] = running
    return found


async def settle(
    session_maker: async_sessionmaker[AsyncSession], temporal: Client, patience: float
) -> Settled:
    loop = asyncio.get_running_loop()
    start = loop.time()
    while True:
        try:
            left = await unsettled(session_maker, temporal)
        except OSError:
            left = {"database unreachable": 1}
        if not left or loop.time() - start > patience:
            break
        await asyncio.sleep(1.0)
    seconds = loop.time() - start
    workflow_id, _ = await run_job_now(temporal, RECONCILE_WALLET_BALANCES_JOB, wait=True)
    return Settled(seconds, left, workflow_id)
