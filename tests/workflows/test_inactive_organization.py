"""A deactivated organization moves no money (issue 10, item 6): a purchase's charge waits
(retried, never failed) and is charged once under the same key when the organization is
reactivated; a subscription's renewal charge and an auto top-up are refused the same way."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.auto_topup import AutoTopupActivities
from activities.organization_status import ORGANIZATION_INACTIVE
from activities.payments.factory import build_gateway
from activities.subscriptions import SubscriptionActivities
from db.audit import Actor
from db.directory import deactivate_organization, reactivate_organization
from tests.database_helpers import rows
from tests.notification_helpers import eventually, funded_wallet, set_policy
from tests.purchase_helpers import Maker, create_package, insert_purchase
from tests.subscription_helpers import create_package as create_subscription_package
from tests.subscription_helpers import insert_subscription
from tests.workflows.test_token_switch import (
    ANCHOR,
    charge_attempts,
    gateway_operations,
    start_purchase,
)
from tokenbill.settings import Settings
from worker.main import build_worker
from workflows.auto_topup_types import EvaluateInput, TopupTrigger
from workflows.purchase_activity_types import charge_key
from workflows.subscription_activity_types import PeriodBill, purchase_reference

ADMIN = Actor.system("test-admin")


async def set_active(session_maker: Maker, organization_id: int, active: bool) -> None:
    change = reactivate_organization if active else deactivate_organization
    async with session_maker() as session, session.begin():
        await change(session, organization_id, actor=ADMIN)


def assert_waits(refused: pytest.ExceptionInfo[ApplicationError]) -> None:
    assert refused.value.type == ORGANIZATION_INACTIVE
    assert not refused.value.non_retryable


async def test_a_deactivated_organizations_purchase_waits_uncharged_and_completes_once_reactivated(
    temporal_client: Client, settings: Settings, session_maker: Maker, make_organization
):
    organization_id = await make_organization()
    purchase = await insert_purchase(
        session_maker, organization_id, await create_package(session_maker)
    )
    await set_active(session_maker, organization_id, False)
    queue = f"inactive-org-{uuid.uuid4().hex}"
    async with build_worker(temporal_client, settings, session_maker, task_queue=queue):
        handle = await start_purchase(temporal_client, queue, purchase)
        attempt, failure = await eventually(
            lambda: charge_attempts(handle), lambda found: found[0] >= 3
        )
        assert attempt >= 3 and "is deactivated" in failure
        key = charge_key(purchase.purchase_reference_id)
        assert await gateway_operations(session_maker, key) == []

        await set_active(session_maker, organization_id, True)
        result = await handle.result()
    assert result.status == "completed"
    assert [tuple(row) for row in await gateway_operations(session_maker, key)] == [
        (key, "succeeded")
    ]


async def test_a_deactivated_organizations_renewal_charge_is_refused_retryably(
    settings: Settings, session_maker: Maker, make_organization
):
    terms = await create_subscription_package(session_maker)
    run = await insert_subscription(session_maker, await make_organization(), terms, anchor=ANCHOR)
    await set_active(session_maker, run.organization_id, False)
    bill = PeriodBill(
        subscription_id=run.subscription_id, organization_id=run.organization_id,
        wallet_id=run.wallet_id, period_start=ANCHOR, period_end=ANCHOR + timedelta(days=28),
        terms=terms, tax_rate=run.tax_rate, payment_method=run.payment_method, attempt=1,
    )  # fmt: skip
    activities = SubscriptionActivities(
        session_maker, build_gateway(settings, session_maker), settings
    )

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
    await set_active(session_maker, run.organization_id, True)
    assert (await activities.charge(bill)).paid


async def test_a_deactivated_organizations_auto_top_up_is_refused_retryably(
    settings: Settings, session_maker: Maker, make_organization
):
    organization_id = await make_organization()
    wallet_id = await funded_wallet(session_maker, organization_id, "10")
    await set_policy(
        session_maker, wallet_id, organization_id, threshold=Decimal(100),
        package_id=await create_package(session_maker),
    )  # fmt: skip
    await set_active(session_maker, organization_id, False)
    trigger = TopupTrigger(kind="threshold", key=f"event-{uuid.uuid4().hex}")

    with pytest.raises(ApplicationError) as refused:
        await AutoTopupActivities(session_maker, settings).evaluate(
            EvaluateInput(wallet_id=wallet_id, organization_id=organization_id, trigger=trigger)
        )

    assert_waits(refused)
    assert (
        await rows(session_maker, "SELECT 1 FROM token_purchases WHERE wallet_id = :w", w=wallet_id)
        == []
    )
