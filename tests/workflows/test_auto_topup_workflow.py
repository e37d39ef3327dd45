"""AutoTopupWorkflow on the dev server: a burst of crossings buys once, the relay forwards a
spend's crossing (through the consume route too), and TOKEN_AUTO_TOPUP_ENABLED=false does
nothing."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from temporalio.client import Client
from temporalio.service import RPCError

from db import ledger
from db.notifications import record_event
from tests.database_helpers import rows
from tests.history_recording import record_histories
from tests.notification_helpers import (
    RunningWorker,
    auto_topup_purchases,
    events_of,
    eventually,
    funded_wallet,
    notification_settings,
    notification_worker,
    set_policy,
)
from tests.purchase_helpers import Maker, create_package
from tests.subscription_helpers import wallet_balance
from tokenbill.settings import Settings
from tokenbill.workflow_client import WorkflowClient
from tokenbill.workflow_signals import signal_auto_topup
from workflows.auto_topup_types import (
    STATE_QUERY,
    AutoTopupState,
    TopupTrigger,
    auto_topup_workflow_id,
)
from workflows.outbox_types import AUTO_TOPUP_THRESHOLD_CROSSED


@pytest.fixture(scope="module")
async def package_id(session_maker: Maker) -> int:
    return await create_package(session_maker)


@pytest.fixture(scope="module")
async def running(
    temporal_client: Client, settings: Settings, session_maker: Maker
) -> AsyncIterator[RunningWorker]:
    async with notification_worker(
        temporal_client, notification_settings(settings), session_maker
    ) as worker:
        yield worker


async def spend(session_maker: Maker, wallet_id: int, tokens: str) -> None:
    async with session_maker() as session, session.begin():
        await ledger.debit(
            session,
            wallet_id=wallet_id,
            amount=Decimal(tokens),
            idempotency_key=f"spend:{uuid.uuid4().hex}",
            kind="consumption",
        )


async def crossing(session_maker: Maker, organization_id: int, wallet_id: int) -> int:
    """The outbox event a spend across the policy threshold writes, as the contract says."""
    async with session_maker() as session, session.begin():
        event_id = await record_event(
            session,
            idempotency_key=f"auto_topup_threshold:{wallet_id}:{uuid.uuid4().hex}",
            event_type=AUTO_TOPUP_THRESHOLD_CROSSED,
            payload={"wallet_id": wallet_id, "organization_id": organization_id,
                     "balance": "50", "threshold": "100"},
            organization_id=organization_id,
            wallet_id=wallet_id,
        )  # fmt: skip
    assert event_id is not None
    return event_id


async def quiet(client: Client, wallet_id: int) -> AutoTopupState:
    """Wait until the wallet's workflow has no trigger pending and nothing in flight."""
    handle = client.get_workflow_handle(auto_topup_workflow_id(wallet_id))
    state: AutoTopupState = await eventually(
        lambda: handle.query(STATE_QUERY, result_type=AutoTopupState),
        lambda s: s.pending_triggers == 0 and s.in_flight == 0 and s.topups_started > 0,
    )
    return state


async def terminate(client: Client, wallet_id: int) -> None:
    try:
        await client.get_workflow_handle(auto_topup_workflow_id(wallet_id)).terminate("test done")
    except RPCError:
        pass  # already finished


async def test_burst_of_concurrent_crossings_buys_exactly_one_top_up(
    running: RunningWorker,
    temporal_client: Client,
    session_maker: Maker,
    make_organization,
    package_id: int,
):
    organization_id = await make_organization()
    wallet_id = await funded_wallet(session_maker, organization_id, "150")
    await set_policy(session_maker, wallet_id, organization_id, threshold=Decimal(100),
                     package_id=package_id)  # fmt: skip
    await spend(session_maker, wallet_id, "100")

    await asyncio.gather(
        *(
            signal_auto_topup(
                WorkflowClient.over(temporal_client, running.task_queue),
                wallet_id=wallet_id,
                organization_id=organization_id,
                trigger=TopupTrigger(kind="threshold", key=f"event-burst-{n}"),
            )
            for n in range(25)
        )
    )
    try:
        state = await quiet(temporal_client, wallet_id)
        purchases = await eventually(
            lambda: auto_topup_purchases(session_maker, wallet_id),
            lambda found: all(p.status == "completed" for p in found),
        )
    finally:
        await terminate(temporal_client, wallet_id)
    await record_histories(temporal_client, auto_topup_workflow_id(wallet_id), "auto-topup-burst")

    assert state.topups_started == 1
    assert [(p.status, p.token_quantity) for p in purchases] == [("completed", Decimal(500))]
    assert await wallet_balance(session_maker, wallet_id) == Decimal(550)
    invoices = await rows(
        session_maker, "SELECT 1 FROM invoices WHERE purchase_reference_id = :r",
        r=purchases[0].purchase_reference_id,
    )  # fmt: skip
    assert len(invoices) == 1
    succeeded = await eventually(
        lambda: events_of(session_maker, wallet_id, "auto_topup.succeeded"), bool
    )
    assert len(succeeded) == 1


async def test_relay_forwards_a_threshold_crossing_to_one_top_up(
    running: RunningWorker,
    temporal_client: Client,
    session_maker: Maker,
    make_organization,
    package_id: int,
):
    organization_id = await make_organization()
    wallet_id = await funded_wallet(session_maker, organization_id, "150")
    await set_policy(session_maker, wallet_id, organization_id, threshold=Decimal(100),
                     package_id=package_id)  # fmt: skip
    await spend(session_maker, wallet_id, "100")
    event_ids = [await crossing(session_maker, organization_id, wallet_id) for _ in range(3)]

    try:
        purchases = await eventually(
            lambda: auto_topup_purchases(session_maker, wallet_id),
            lambda found: bool(found) and all(p.status == "completed" for p in found),
        )
        await quiet(temporal_client, wallet_id)
    finally:
        await terminate(temporal_client, wallet_id)

    assert [p.status for p in purchases] == ["completed"]
    statuses = await rows(
        session_maker, "SELECT status FROM notification_events WHERE id = ANY(:ids)", ids=event_ids
    )
    assert {s.status for s in statuses} == {"delivered"}


async def test_auto_topup_switched_off_ignores_crossings(
    temporal_client: Client,
    settings: Settings,
    session_maker: Maker,
    make_organization,
    package_id: int,
):
    organization_id = await make_organization()
    wallet_id = await funded_wallet(session_maker, organization_id, "50")
    await set_policy(session_maker, wallet_id, organization_id, threshold=Decimal(100),
                     package_id=package_id)  # fmt: skip
    off = notification_settings(settings, token_auto_topup_enabled=False)
    async with notification_worker(temporal_client, off, session_maker) as worker:
        event_id = await crossing(session_maker, organization_id, wallet_id)
        delivered = await eventually(
            lambda: rows(
                session_maker, "SELECT status FROM notification_events WHERE id = :i", i=event_id
            ),
            lambda found: found[0].status == "delivered",
        )
        assert delivered[0].status == "delivered"
        with pytest.raises(RPCError):
            await temporal_client.get_workflow_handle(auto_topup_workflow_id(wallet_id)).describe()
        assert worker.settings.token_auto_topup_enabled is False
    assert await auto_topup_purchases(session_maker, wallet_id) == []
