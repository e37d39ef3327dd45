"""A payment the customer completes after its purchase gave up: over HTTP, the stand-in and the
real database, the webhook refunds it once (a replayed event refunds nothing more) and tells
finance; the money at the provider nets to zero. A success the purchase itself took, or that its
still-running purchase may yet take, is not refunded."""

import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal

import httpx
import stripe

from db import ledger
from db.stripe_customers import record_payment_action
from tests.api.helpers import MakePackage, Maker, count_rows
from tests.api.stripe_helpers import (
    deliver,
    emitted,
    paid_purchase,
    sdk,
    standin,
    stripe_api,
    stripe_settings,
)
from tests.database_helpers import insert_purchase_row
from tokenbill.devstack.stripe_standin.server import StandinServer

__all__ = ["standin", "stripe_api", "stripe_settings"]
THREE_D_SECURE = "pm_card_authenticationRequired"


async def _waiting_purchase(
    session_maker: Maker,
    standin: StandinServer,
    organization_id: int,
    package_id: int,
    status: str,
    *,
    charged: bool = False,
) -> tuple[str, stripe.PaymentIntent]:
    """A purchase (in `status`) whose 3-D Secure payment was kept waiting for the customer."""
    reference = "TKP-" + uuid.uuid4().hex[:20].upper()
    intent = await sdk(standin).v1.payment_intents.create_async(
        params={
            "amount": 4900, "currency": "usd", "payment_method": THREE_D_SECURE,
            "confirm": True, "metadata": {"purchase_reference": reference,
                                          "organization_id": str(organization_id)},
        },
    )  # fmt: skip
    assert intent.status == "requires_action"
    async with session_maker() as session, session.begin():
        wallet = await ledger.ensure_wallet(session, organization_id)
        await insert_purchase_row(
            session, reference, organization_id=organization_id, wallet_id=wallet,
            package_id=package_id, kind="one_time", tokens=Decimal(100), price=Decimal("0.49"),
            subtotal=Decimal("49.00"), tax_rate=Decimal(0), tax=Decimal(0),
            total=Decimal("49.00"), currency="USD", payment_method="card", status=status,
            gateway_charge_id=intent.id if charged else None,
        )  # fmt: skip
        await record_payment_action(
            session, organization_id=organization_id, payment_intent_id=intent.id,
            workflow_id=f"purchase-gone-{reference}", reference=reference,
            client_secret=intent.client_secret, action_url=None,
        )  # fmt: skip
    return reference, intent


async def _authenticate(standin: StandinServer, intent_id: str, result: str) -> None:
    async with httpx.AsyncClient(base_url=standin.url) as customer:
        answer = await customer.post(
            f"/_standin/payment_intents/{intent_id}/authenticate", params={"result": result}
        )
    assert answer.status_code == 200


async def _refunds(standin: StandinServer, intent_id: str) -> list[stripe.Refund]:
    page = await sdk(standin).v1.refunds.list_async(params={"payment_intent": intent_id})
    return list(page.data)


async def test_payment_completed_after_its_purchase_failed_is_refunded_once(
    stripe_api: httpx.AsyncClient,
    standin: StandinServer,
    session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
    make_package: MakePackage,
) -> None:
    org = await make_organization()
    _, intent = await _waiting_purchase(session_maker, standin, org, await make_package(), "failed")
    # The customer fails 3-D Secure: the purchase gave up on this payment...
    await _authenticate(standin, intent.id, "fail")
    failed = await deliver(stripe_api, emitted(standin, "payment_intent.payment_failed", intent.id))
    assert failed.json()["outcome"] == "no_waiting_workflow"
    # ...then tries again and completes it: money captured that no purchase expects.
    await sdk(standin).v1.payment_intents.confirm_async(intent.id)
    await _authenticate(standin, intent.id, "succeed")
    succeeded = emitted(standin, "payment_intent.succeeded", intent.id)

    first = await deliver(stripe_api, succeeded)
    replayed = await deliver(stripe_api, succeeded)
    redelivered = await deliver(stripe_api, {**succeeded, "id": f"evt_{uuid.uuid4().hex}"})

    assert first.status_code == replayed.status_code == redelivered.status_code == 200
    assert first.json()["outcome"] == "late_payment_refunded"
    assert replayed.json()["duplicate"] is True
    assert redelivered.json()["outcome"] == "late_payment_refunded"
    refunds = await _refunds(standin, intent.id)
    assert len(refunds) == 1
    assert refunds[0].metadata is not None
    assert refunds[0].metadata["tokenbill_key"] == f"late-payment:{intent.id}:refund"
    captured = await sdk(standin).v1.payment_intents.retrieve_async(intent.id)
    assert captured.amount_received - sum(r.amount for r in refunds) == 0
    assert await count_rows(
        session_maker, "notification_events",
        "event_type = 'payment_provider.late_payment_refunded' AND organization_id = :o", o=org,
    ) == 1  # fmt: skip
    assert await count_rows(
        session_maker, "token_audit_logs",
        "action = 'payment.late_refunded' AND target_id = :pi", pi=intent.id,
    ) >= 1  # fmt: skip


async def test_late_payment_of_a_purchase_still_deciding_is_left_for_review(
    stripe_api: httpx.AsyncClient,
    standin: StandinServer,
    session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
    make_package: MakePackage,
) -> None:
    org = await make_organization()
    _, intent = await _waiting_purchase(
        session_maker, standin, org, await make_package(), "processing"
    )
    await _authenticate(standin, intent.id, "succeed")
    answer = await deliver(stripe_api, emitted(standin, "payment_intent.succeeded", intent.id))
    assert answer.json()["outcome"] == "late_payment_review"
    assert await _refunds(standin, intent.id) == []
    assert await count_rows(
        session_maker, "notification_events",
        "event_type = 'payment_provider.late_payment_review' AND organization_id = :o", o=org,
    ) == 1  # fmt: skip


async def test_ordinary_successful_charge_is_not_refunded(
    stripe_api: httpx.AsyncClient,
    standin: StandinServer,
    session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
    make_package: MakePackage,
) -> None:
    org = await make_organization()
    purchase = await paid_purchase(session_maker, standin, org, await make_package())
    event = emitted(standin, "payment_intent.succeeded", purchase.payment_intent)
    answer = await deliver(stripe_api, event)
    assert answer.json()["outcome"] == "no_waiting_payment"
    assert await _refunds(standin, purchase.payment_intent) == []


async def test_payment_whose_purchase_workflow_is_gone_is_refunded_when_the_purchase_failed(
    stripe_api: httpx.AsyncClient,
    standin: StandinServer,
    session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
    make_package: MakePackage,
) -> None:
    org = await make_organization()
    _, intent = await _waiting_purchase(session_maker, standin, org, await make_package(), "failed")
    await _authenticate(standin, intent.id, "succeed")
    answer = await deliver(stripe_api, emitted(standin, "payment_intent.succeeded", intent.id))
    assert answer.json()["outcome"] == "late_payment_refunded"
    assert len(await _refunds(standin, intent.id)) == 1


async def test_payment_its_purchase_took_is_not_refunded_though_the_workflow_is_gone(
    stripe_api: httpx.AsyncClient,
    standin: StandinServer,
    session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
    make_package: MakePackage,
) -> None:
    org = await make_organization()
    _, intent = await _waiting_purchase(
        session_maker, standin, org, await make_package(), "completed", charged=True
    )
    await _authenticate(standin, intent.id, "succeed")
    answer = await deliver(stripe_api, emitted(standin, "payment_intent.succeeded", intent.id))
    assert answer.json()["outcome"] == "payment_taken"
    assert await _refunds(standin, intent.id) == []
