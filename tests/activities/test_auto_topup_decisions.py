"""What a top-up trigger leads to: a purchase, or a recorded skip (caps, cooldown, in flight),
decided by the evaluate activity against the real database."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from temporalio.testing import ActivityEnvironment

from activities.auto_topup import AutoTopupActivities
from db import ledger
from db.safety_net import wallets_due_topup
from tests.database_helpers import rows
from tests.notification_helpers import auto_topup_purchases, events_of, funded_wallet, set_policy
from tests.purchase_helpers import Maker, create_package
from tokenbill.settings import Settings
from workflows.auto_topup_types import EvaluateInput, TopupDecision, TopupTrigger


@pytest.fixture(scope="module")
async def package_id(session_maker: Maker) -> int:
    return await create_package(session_maker)  # 500 tokens at 0.50: 290.00 with 16% tax


async def low_wallet(
    session_maker: Maker, make_organization: Any, **policy: Any
) -> tuple[int, int]:
    """A wallet at 50 tokens with a threshold-100 policy; (organization, wallet)."""
    organization_id = await make_organization()
    wallet_id = await funded_wallet(session_maker, organization_id, "50")
    await set_policy(session_maker, wallet_id, organization_id, threshold=Decimal(100), **policy)
    return organization_id, wallet_id


async def evaluate(
    settings: Settings,
    session_maker: Maker,
    organization_id: int,
    wallet_id: int,
    key: str | None = None,
    kind: str = "threshold",
) -> TopupDecision:
    activities = AutoTopupActivities(session_maker, settings)
    trigger = TopupTrigger(kind=kind, key=key or f"event-{uuid.uuid4().hex[:8]}")
    result: TopupDecision = await ActivityEnvironment().run(
        activities.evaluate,
        EvaluateInput(wallet_id=wallet_id, organization_id=organization_id, trigger=trigger),
    )
    return result


async def complete_purchases(session_maker: Maker, wallet_id: int) -> None:
    async with session_maker() as session, session.begin():
        await session.execute(
            text(
                "UPDATE token_purchases SET status = 'completed', completed_at = now() "
                "WHERE wallet_id = :w AND status = 'pending'"
            ),
            {"w": wallet_id},
        )


async def test_balance_under_threshold_writes_a_pending_auto_topup_purchase(
    db_settings: Settings, session_maker: Maker, make_organization, package_id: int
):
    organization_id, wallet_id = await low_wallet(
        session_maker, make_organization, package_id=package_id
    )

    decision = await evaluate(db_settings, session_maker, organization_id, wallet_id, "event-1")

    assert decision.action == "purchase" and decision.purchase is not None
    assert decision.purchase.purchase_type == "auto_topup"
    assert decision.purchase.total_amount == Decimal("290.00")
    [purchase] = await auto_topup_purchases(session_maker, wallet_id)
    assert (purchase.purchase_reference_id, purchase.status) == (
        decision.purchase.purchase_reference_id,
        "pending",
    )
    topups = await rows(
        session_maker,
        "SELECT idempotency_key, outcome FROM auto_topups WHERE wallet_id = :w",
        w=wallet_id,
    )
    assert [(t.idempotency_key, t.outcome) for t in topups] == [
        (f"topup:{wallet_id}:event-1", "purchasing")
    ]


async def test_same_trigger_evaluated_again_returns_the_same_purchase(
    db_settings: Settings, session_maker: Maker, make_organization, package_id: int
):
    organization_id, wallet_id = await low_wallet(
        session_maker, make_organization, package_id=package_id
    )

    first = await evaluate(db_settings, session_maker, organization_id, wallet_id, "event-7")
    again = await evaluate(db_settings, session_maker, organization_id, wallet_id, "event-7")

    assert first.purchase is not None and again.purchase is not None
    assert again.purchase.purchase_reference_id == first.purchase.purchase_reference_id
    assert len(await auto_topup_purchases(session_maker, wallet_id)) == 1


async def test_second_trigger_while_a_top_up_is_in_flight_buys_nothing(
    db_settings: Settings, session_maker: Maker, make_organization, package_id: int
):
    organization_id, wallet_id = await low_wallet(
        session_maker, make_organization, package_id=package_id
    )

    await evaluate(db_settings, session_maker, organization_id, wallet_id)
    second = await evaluate(db_settings, session_maker, organization_id, wallet_id)

    assert (second.action, second.reason) == ("skip", "topup_in_flight")
    assert len(await auto_topup_purchases(session_maker, wallet_id)) == 1


async def test_balance_above_threshold_buys_nothing(
    db_settings: Settings, session_maker: Maker, make_organization, package_id: int
):
    organization_id = await make_organization()
    wallet_id = await funded_wallet(session_maker, organization_id, "150")
    await set_policy(
        session_maker, wallet_id, organization_id, threshold=Decimal(100), package_id=package_id
    )

    decision = await evaluate(db_settings, session_maker, organization_id, wallet_id)

    assert (decision.action, decision.reason) == ("skip", "balance_above_threshold")
    assert await auto_topup_purchases(session_maker, wallet_id) == []


async def test_daily_cap_reached_buys_nothing_and_records_a_notification(
    db_settings: Settings, session_maker: Maker, make_organization, package_id: int
):
    organization_id, wallet_id = await low_wallet(
        session_maker, make_organization, package_id=package_id, max_topups_per_day=1
    )
    await evaluate(db_settings, session_maker, organization_id, wallet_id)
    await complete_purchases(session_maker, wallet_id)  # bought, yet spent below again

    decision = await evaluate(db_settings, session_maker, organization_id, wallet_id, "event-2")

    assert (decision.action, decision.reason) == ("skip", "daily_cap_reached")
    assert len(await auto_topup_purchases(session_maker, wallet_id)) == 1
    [event] = await events_of(session_maker, wallet_id, "auto_topup.cap_reached")
    assert event.payload["reason"] == "daily_cap_reached"
    assert "1 per day" in event.payload["message"]


async def test_monthly_spend_cap_refuses_the_top_up_that_would_exceed_it(
    db_settings: Settings, session_maker: Maker, make_organization, package_id: int
):
    organization_id, wallet_id = await low_wallet(
        session_maker, make_organization, package_id=package_id, max_monthly_spend=Decimal("300.00")
    )
    first = await evaluate(db_settings, session_maker, organization_id, wallet_id)
    await complete_purchases(session_maker, wallet_id)

    second = await evaluate(db_settings, session_maker, organization_id, wallet_id)

    assert first.action == "purchase"  # 290.00 fits under 300.00
    assert (second.action, second.reason) == ("skip", "monthly_cap_reached")  # 580.00 would not
    [event] = await events_of(session_maker, wallet_id, "auto_topup.cap_reached")
    assert "over the cap of 300.00" in event.payload["message"]


async def test_cooldown_defers_the_next_top_up_until_it_ends(
    db_settings: Settings, session_maker: Maker, make_organization, package_id: int
):
    last = datetime.now(UTC) - timedelta(minutes=10)
    organization_id, wallet_id = await low_wallet(
        session_maker,
        make_organization,
        package_id=package_id,
        cooldown=timedelta(hours=1),
        last_topup_at=last,
    )

    cooling = await evaluate(db_settings, session_maker, organization_id, wallet_id)
    async with session_maker() as session, session.begin():
        await session.execute(
            text(
                "UPDATE auto_topup_policies SET last_topup_at = now() - interval '2 hours' "
                "WHERE wallet_id = :w"
            ),
            {"w": wallet_id},
        )
    after = await evaluate(db_settings, session_maker, organization_id, wallet_id)

    assert (cooling.action, cooling.reason) == ("skip", "cooldown")
    assert cooling.cooldown_until is not None
    assert abs(cooling.cooldown_until - (last + timedelta(hours=1))) < timedelta(seconds=1)
    assert after.action == "purchase"
    assert len(await auto_topup_purchases(session_maker, wallet_id)) == 1


async def test_target_balance_buys_the_difference_at_the_default_price(
    db_settings: Settings, session_maker: Maker, make_organization
):
    organization_id, wallet_id = await low_wallet(
        session_maker, make_organization, target_balance=Decimal("1000")
    )

    decision = await evaluate(db_settings, session_maker, organization_id, wallet_id)

    assert decision.purchase is not None
    assert decision.purchase.token_quantity == Decimal("950")
    assert decision.purchase.price_per_token == db_settings.default_token_price
    assert decision.purchase.package_id is None


async def test_suspended_or_disabled_policy_stops_the_workflow(
    db_settings: Settings, session_maker: Maker, make_organization, package_id: int
):
    organization_id, wallet_id = await low_wallet(
        session_maker, make_organization, package_id=package_id, status="suspended"
    )
    other_org, other_wallet = await low_wallet(
        session_maker, make_organization, package_id=package_id, enabled=False
    )

    suspended = await evaluate(db_settings, session_maker, organization_id, wallet_id)
    disabled = await evaluate(db_settings, session_maker, other_org, other_wallet)

    assert (suspended.action, suspended.reason) == ("stop", "policy_suspended")
    assert (disabled.action, disabled.reason) == ("stop", "policy_disabled")


async def test_auto_topup_switched_off_decides_nothing_and_writes_nothing(
    db_settings: Settings, session_maker: Maker, make_organization, package_id: int
):
    organization_id, wallet_id = await low_wallet(
        session_maker, make_organization, package_id=package_id
    )
    off = db_settings.model_copy(update={"token_auto_topup_enabled": False})

    decision = await evaluate(off, session_maker, organization_id, wallet_id)

    assert (decision.action, decision.reason) == ("stop", "auto_topup_disabled")
    assert await auto_topup_purchases(session_maker, wallet_id) == []
    assert (
        await rows(session_maker, "SELECT 1 FROM auto_topups WHERE wallet_id = :w", w=wallet_id)
        == []
    )


async def test_ledger_debit_below_threshold_is_what_the_check_job_sees(
    db_settings: Settings, session_maker: Maker, make_organization, package_id: int
):
    """The check job's query: under threshold with no top-up in flight; not once one is."""
    organization_id = await make_organization()
    wallet_id = await funded_wallet(session_maker, organization_id, "300")
    await set_policy(
        session_maker, wallet_id, organization_id, threshold=Decimal(100), package_id=package_id
    )
    async with session_maker() as session, session.begin():
        await ledger.debit(
            session,
            wallet_id=wallet_id,
            amount=Decimal(250),
            idempotency_key=f"spend:{uuid.uuid4().hex}",
            kind="consumption",
        )

    async def due() -> set[int]:  # the check job's page of this wallet
        async with session_maker() as session:
            return await wallets_due_topup(session, after=wallet_id - 1, last=wallet_id)

    due_before = await due()
    await evaluate(db_settings, session_maker, organization_id, wallet_id, kind="check")
    due_after = await due()

    assert wallet_id in due_before
    assert wallet_id not in due_after
