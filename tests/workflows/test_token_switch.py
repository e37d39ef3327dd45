"""ENABLE_TOKEN_SYSTEM=false in the worker (issue 9, edge 8): nothing moves money. A purchase's
charge waits (retried, never failed) and is charged once when the worker runs with the switch
on; a subscription's charge and an auto top-up are refused the same way."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ApplicationError

from activities.auto_topup import AutoTopupActivities
from activities.payments.factory import build_gateway
from activities.subscriptions import SubscriptionActivities
from activities.token_switch import TOKEN_SYSTEM_DISABLED
from tests.database_helpers import rows
from tests.notification_helpers import eventually, funded_wallet, set_policy
from tests.purchase_helpers import Maker, create_package, insert_purchase
from tests.subscription_helpers import create_package as create_subscription_package
from tests.subscription_helpers import insert_subscription
from tokenbill.settings import Settings
from worker.main import build_worker
from workflows.auto_topup_types import EvaluateInput, TopupTrigger
from workflows.purchase_activity_types import charge_key
from workflows.purchase_types import (
    PURCHASE_WORKFLOW,
    PurchaseInput,
    PurchaseResult,
    purchase_workflow_id,
)
from workflows.search_attributes import ORGANIZATION_ID, PURCHASE_REFERENCE
from workflows.subscription_activity_types import PeriodBill, purchase_reference

ANCHOR = datetime(2026, 1, 31, tzinfo=UTC)


def switched_off(settings: Settings) -> Settings:
    return settings.model_copy(update={"enable_token_system": False})


async def start_purchase(
    client: Client, queue: str, purchase: PurchaseInput
) -> WorkflowHandle[Any, PurchaseResult]:
    return await client.start_workflow(
        PURCHASE_WORKFLOW,
        purchase,
        id=purchase_workflow_id(purchase.purchase_reference_id),
        task_queue=queue,
        result_type=PurchaseResult,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(ORGANIZATION_ID, str(purchase.organization_id)),
                SearchAttributePair(PURCHASE_REFERENCE, purchase.purchase_reference_id),
            ]
        ),
    )


async def charge_attempts(handle: WorkflowHandle[Any, PurchaseResult]) -> tuple[int, str]:
    """The pending charge's attempt number and its last failure's message."""
    pending = (await handle.describe()).raw_description.pending_activities
    if not pending:
        return 0, ""
    return pending[0].attempt, pending[0].last_failure.message


async def gateway_operations(session_maker: Maker, key_pattern: str) -> list[Any]:
    return await rows(
        session_maker,
        "SELECT idempotency_key, status FROM payment_gateway_operations WHERE idempotency_key "
        "LIKE :k",
        k=key_pattern,
    )


async def test_a_purchase_waits_while_the_token_system_is_off_and_is_charged_once_it_is_on(
    temporal_client: Client, settings: Settings, session_maker: Maker, make_organization
):
    purchase = await insert_purchase(
        session_maker, await make_organization(), await create_package(session_maker)
    )
    queue = f"token-switch-{uuid.uuid4().hex}"
    async with build_worker(
        temporal_client, switched_off(settings), session_maker, task_queue=queue
    ):
        handle = await start_purchase(temporal_client, queue, purchase)
        attempt, failure = await eventually(
            lambda: charge_attempts(handle), lambda found: found[0] >= 3
        )
    assert attempt >= 3 and "ENABLE_TOKEN_SYSTEM is false" in failure
    key = charge_key(purchase.purchase_reference_id)
    assert await gateway_operations(session_maker, key) == []

    async with build_worker(temporal_client, settings, session_maker, task_queue=queue):
        result = await handle.result()
    assert result.status == "completed"
    assert [tuple(row) for row in await gateway_operations(session_maker, key)] == [
        (key, "succeeded")
    ]


def assert_waits(refused: pytest.ExceptionInfo[ApplicationError]) -> None:
    assert refused.value.type == TOKEN_SYSTEM_DISABLED
    assert not refused.value.non_retryable


async def test_a_subscription_charge_is_refused_retryably_while_the_token_system_is_off(
    settings: Settings, session_maker: Maker, make_organization
):
    off = switched_off(settings)
    terms = await create_subscription_package(session_maker)
    run = await insert_subscription(session_maker, await make_organization(), terms, anchor=ANCHOR)
    bill = PeriodBill(
        subscription_id=run.subscription_id, organization_id=run.organization_id,
        wallet_id=run.wallet_id, period_start=ANCHOR, period_end=ANCHOR + timedelta(days=28),
        terms=terms, tax_rate=run.tax_rate, payment_method=run.payment_method, attempt=1,
    )  # fmt: skip
    activities = SubscriptionActivities(session_maker, build_gateway(off, session_maker), off)

    with pytest.raises(ApplicationError) as refused:
        await activities.charge(bill)

    assert_waits(refused)
    assert await gateway_operations(session_maker, f"subscription:{run.subscription_id}:%") == []
    reference = purchase_reference(run.subscription_id, ANCHOR)
    assert (
        await rows(
            session_maker,
            "SELECT 1 FROM token_purchases WHERE purchase_reference_id = :r",
            r=reference,
        )
        == []
    )


async def test_an_auto_top_up_is_refused_retryably_while_the_token_system_is_off(
    settings: Settings, session_maker: Maker, make_organization
):
    organization_id = await make_organization()
    wallet_id = await funded_wallet(session_maker, organization_id, "10")
    await set_policy(
        session_maker, wallet_id, organization_id, threshold=Decimal(100),
        package_id=await create_package(session_maker),
    )  # fmt: skip
    trigger = TopupTrigger(kind="threshold", key=f"event-{uuid.uuid4().hex}")

    with pytest.raises(ApplicationError) as refused:
        await AutoTopupActivities(session_maker, switched_off(settings)).evaluate(
            EvaluateInput(wallet_id=wallet_id, organization_id=organization_id, trigger=trigger)
        )

    assert_waits(refused)
    assert (
        await rows(session_maker, "SELECT 1 FROM token_purchases WHERE wallet_id = :w", w=wallet_id)
        == []
    )
