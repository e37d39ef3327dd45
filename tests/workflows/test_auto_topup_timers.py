"""AutoTopupWorkflow's timers on the time-skipping server: the schedule buys at each slot, and
failing payments back off, then suspend the policy with the reason shown by the API."""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from api.auth.jwt_tokens import issue_token
from db import directory
from db.audit import Actor
from tests.api.helpers import api_client
from tests.database_helpers import rows
from tests.history_recording import record_histories
from tests.notification_helpers import (
    auto_topup_purchases,
    events_of,
    eventually,
    funded_wallet,
    notification_settings,
    set_policy,
)
from tests.purchase_helpers import Maker, create_package
from tests.subscription_helpers import register_search_attributes
from tokenbill.settings import Settings
from tokenbill.workflow_client import WorkflowClient
from tokenbill.workflow_signals import signal_auto_topup
from worker.main import build_worker
from workflows.auto_topup_types import AutoTopupSummary, TopupTrigger, auto_topup_workflow_id

BACKOFF = timedelta(minutes=10)


@dataclass(frozen=True)
class SkippingWorker:
    env: WorkflowEnvironment
    task_queue: str
    settings: Settings


@pytest.fixture(scope="module")
async def skipping(
    time_skipping_env: WorkflowEnvironment, settings: Settings, session_maker: Maker
) -> AsyncIterator[SkippingWorker]:
    await register_search_attributes(time_skipping_env.client)
    worker_settings = notification_settings(
        settings, token_auto_topup_retry_backoff=BACKOFF, token_auto_topup_max_failures=3
    )
    queue = f"auto-topup-timers-{uuid.uuid4().hex}"
    async with build_worker(
        time_skipping_env.client, worker_settings, session_maker, task_queue=queue
    ):
        yield SkippingWorker(time_skipping_env, queue, worker_settings)


def completed(purchases: list[Any]) -> bool:
    return all(purchase.status == "completed" for purchase in purchases)


async def test_schedule_buys_at_each_slot_from_its_anchor(
    skipping: SkippingWorker, session_maker: Maker, make_organization
):
    organization_id = await make_organization()
    wallet_id = await funded_wallet(session_maker, organization_id, "1000")
    anchor = (await skipping.env.get_current_time()).astimezone(UTC) + timedelta(hours=1)
    await set_policy(
        session_maker, wallet_id, organization_id,
        package_id=await create_package(session_maker),
        schedule_interval="P1D", schedule_anchor=anchor,
    )  # fmt: skip
    await signal_auto_topup(
        WorkflowClient.over(skipping.env.client, skipping.task_queue),
        wallet_id=wallet_id,
        organization_id=organization_id,
        trigger=TopupTrigger(kind="policy_changed", key="policy-initial"),
    )

    await skipping.env.sleep(timedelta(minutes=30))
    before_anchor = await auto_topup_purchases(session_maker, wallet_id)
    await skipping.env.sleep(timedelta(hours=1))
    first = await eventually(lambda: auto_topup_purchases(session_maker, wallet_id), completed)
    await skipping.env.sleep(timedelta(days=1))
    second = await eventually(
        lambda: auto_topup_purchases(session_maker, wallet_id),
        lambda found: len(found) == 2 and completed(found),
    )
    await skipping.env.client.get_workflow_handle(auto_topup_workflow_id(wallet_id)).terminate()
    await record_histories(
        skipping.env.client, auto_topup_workflow_id(wallet_id), "auto-topup-schedule"
    )

    assert before_anchor == []
    assert [p.status for p in first] == ["completed"]
    assert [p.status for p in second] == ["completed", "completed"]
    keys = await rows(
        session_maker,
        "SELECT idempotency_key, trigger_kind FROM auto_topups WHERE wallet_id = :w ORDER BY id",
        w=wallet_id,
    )
    slots = [anchor, anchor + timedelta(days=1)]
    assert [k.idempotency_key for k in keys] == [
        f"topup:{wallet_id}:schedule-{slot:%Y%m%dT%H%M%SZ}" for slot in slots
    ]


async def test_failing_payments_back_off_then_suspend_with_the_reason_in_the_api(
    skipping: SkippingWorker, session_maker: Maker, make_organization
):
    organization_id = await make_organization()
    wallet_id = await funded_wallet(session_maker, organization_id, "50")
    await set_policy(
        session_maker, wallet_id, organization_id, threshold=Decimal(100),
        package_id=await create_package(session_maker), payment_method="pm_card_declined",
    )  # fmt: skip
    client = skipping.env.client
    await signal_auto_topup(
        WorkflowClient.over(client, skipping.task_queue),
        wallet_id=wallet_id,
        organization_id=organization_id,
        trigger=TopupTrigger(kind="threshold", key="event-1"),
    )
    handle = client.get_workflow_handle(
        auto_topup_workflow_id(wallet_id), result_type=AutoTopupSummary
    )

    for _ in range(6):  # each failure arms a backoff timer: skip past it, let the next run
        await eventually(
            lambda: auto_topup_purchases(session_maker, wallet_id),
            lambda found: bool(found) and all(p.status == "failed" for p in found),
        )
        await skipping.env.sleep(4 * BACKOFF)
    summary = await handle.result()
    await record_histories(client, auto_topup_workflow_id(wallet_id), "auto-topup-suspended")

    assert (summary.stopped_because, summary.topups_started) == ("suspended", 3)
    purchases = await auto_topup_purchases(session_maker, wallet_id)
    assert [p.status for p in purchases] == ["failed", "failed", "failed"]
    timers = [
        event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]
    assert timers == [BACKOFF, 2 * BACKOFF]
    assert len(await events_of(session_maker, wallet_id, "auto_topup.failed")) == 3
    [suspended] = await events_of(session_maker, wallet_id, "auto_topup.suspended")
    assert suspended.payload["consecutive_failures"] == 3

    async with session_maker() as session, session.begin():
        user = await directory.create_user(
            session, email=f"configurer-{uuid.uuid4().hex[:8]}@timers.test", role="user",
            organization_id=organization_id, permissions=("tokens.configure",),
            actor=Actor.system("tests"),
        )  # fmt: skip
    async with api_client(skipping.settings) as api:
        answer = await api.get(
            f"/api/tokens/wallet/{organization_id}/auto-topup",
            headers={"Authorization": f"Bearer {issue_token(skipping.settings, user.id)}"},
        )
    assert answer.status_code == 200
    policy = answer.json()
    assert policy["status"] == "suspended"
    assert policy["consecutive_failures"] == 3
    assert "3 consecutive failed top-up payments" in policy["suspended_reason"]
    assert "declined" in policy["suspended_reason"]
    assert datetime.fromisoformat(policy["suspended_at"]).tzinfo is not None
