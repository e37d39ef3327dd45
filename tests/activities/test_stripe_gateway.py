"""What only the Stripe gateway does: a Customer per organisation, exact minor units and the
purchase's metadata on the PaymentIntent, 3-D Secure as a payment waiting for the customer, and
Stripe's failures as the errors the workflows retry."""

import uuid
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.payments.factory import build_gateway
from activities.payments.gateway import (
    GatewayUnavailable,
    InvalidGatewayRequest,
    PaymentDeclined,
    PaymentRequiresAction,
)
from activities.payments.minor_units import from_minor_units, to_minor_units
from activities.payments.stripe_gateway import StripeGateway
from tests.payment_gateways import STANDIN_KEY, STRIPE_CARDS, stripe_settings
from tokenbill.devstack.stripe_standin.faults import StandinFaults
from tokenbill.devstack.stripe_standin.server import StandinServer

Maker = async_sessionmaker[AsyncSession]


@pytest.fixture
def gateway(session_maker: Maker, stripe_standin: StandinServer) -> StripeGateway:
    return StripeGateway(
        session_maker, secret_key=STANDIN_KEY, api_base=stripe_standin.url, timeout_seconds=4
    )


def new_key() -> str:
    return f"test:{uuid.uuid4().hex}:charge"


async def test_an_organisation_is_one_customer_created_once(
    gateway, session_maker, make_organization, stripe_standin
):
    org = await make_organization()
    first = await gateway.charge(
        idempotency_key=new_key(), payment_method=STRIPE_CARDS.ok, amount=Decimal("12.34"),
        currency="USD", description="Starter Pack", organization_id=org, reference="pur_1",
    )  # fmt: skip
    await gateway.charge(
        idempotency_key=new_key(), payment_method=STRIPE_CARDS.ok, amount=Decimal("1.00"),
        currency="USD", description="Starter Pack", organization_id=org,
    )  # fmt: skip
    async with session_maker() as session:
        stored = (
            await session.execute(
                text("SELECT customer_id FROM stripe_customers WHERE organization_id = :o"),
                {"o": org},
            )
        ).scalars().all()  # fmt: skip
    assert len(stored) == 1
    customers = [
        c for c in stripe_standin.store.objects("customer").values()
        if c["metadata"].get("organization_id") == str(org)
    ]  # fmt: skip
    assert [c["id"] for c in customers] == stored
    intent = stripe_standin.store.objects("payment_intent")[first.charge_reference]
    assert (intent["amount"], intent["currency"], intent["customer"]) == (1234, "usd", stored[0])
    assert intent["metadata"]["organization_id"] == str(org)
    assert intent["metadata"]["reference"] == "pur_1"


async def test_a_second_gateway_finds_the_stored_customer(
    gateway, session_maker, make_organization, stripe_standin
):
    org = await make_organization()
    customer = await gateway.customer(org)
    restarted = StripeGateway(session_maker, secret_key=STANDIN_KEY, api_base=stripe_standin.url)
    assert await restarted.customer(org) == customer


@pytest.mark.parametrize(
    ("amount", "currency", "units"),
    [("12.34", "USD", 1234), ("500", "JPY", 500), ("1.234", "KWD", 1234), ("0.01", "EUR", 1)],
)
def test_amounts_are_exact_minor_units(amount: str, currency: str, units: int):
    assert to_minor_units(Decimal(amount), currency) == units
    assert from_minor_units(units, currency) == Decimal(amount)


@pytest.mark.parametrize(("amount", "currency"), [("12.345", "USD"), ("1.5", "JPY")])
def test_amounts_finer_than_the_minor_unit_are_refused(amount: str, currency: str):
    with pytest.raises(InvalidGatewayRequest):
        to_minor_units(Decimal(amount), currency)


@pytest.mark.parametrize(
    ("method", "code", "hard"),
    [
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", True),
        ("pm_card_chargeDeclinedFraudulent", "fraudulent", True),
        ("pm_card_chargeDeclinedProcessingError", "processing_error", False),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds", False),
    ],
)
async def test_stripe_decline_codes_are_hard_or_soft(gateway, method, code, hard):
    with pytest.raises(PaymentDeclined) as declined:
        await gateway.charge(
            idempotency_key=new_key(), payment_method=method, amount=Decimal("5.00"),
            currency="USD", description="x",
        )  # fmt: skip
    assert (declined.value.code, declined.value.hard) == (code, hard)


async def test_authentication_waits_for_the_customer_and_the_same_key_then_answers_the_charge(
    gateway, stripe_standin
):
    key = new_key()
    with pytest.raises(PaymentRequiresAction) as waiting:
        await gateway.charge(
            idempotency_key=key, payment_method=STRIPE_CARDS.requires_action,
            amount=Decimal("30.00"), currency="USD", description="x",
        )  # fmt: skip
    action = waiting.value
    assert action.payment_reference.startswith("pi_")
    assert action.client_secret and action.action_url
    with pytest.raises(PaymentRequiresAction):  # not completed yet: still waiting
        await gateway.charge(
            idempotency_key=key, payment_method=STRIPE_CARDS.requires_action,
            amount=Decimal("30.00"), currency="USD", description="x",
        )  # fmt: skip
    async with httpx.AsyncClient() as browser:
        assert (await browser.post(action.action_url)).status_code == 200
    charged = await gateway.charge(
        idempotency_key=key, payment_method=STRIPE_CARDS.requires_action,
        amount=Decimal("30.00"), currency="USD", description="x",
    )  # fmt: skip
    assert charged.charge_reference == action.payment_reference
    assert charged.amount == Decimal("30.00")


async def test_off_session_authentication_is_a_payment_waiting_for_the_customer(gateway):
    with pytest.raises(PaymentRequiresAction) as waiting:
        await gateway.charge(
            idempotency_key=new_key(), payment_method=STRIPE_CARDS.requires_action,
            amount=Decimal("30.00"), currency="USD", description="x", off_session=True,
        )  # fmt: skip
    assert waiting.value.client_secret and waiting.value.action_url is None


async def test_stripe_server_errors_and_a_wrong_key_are_retried_later(session_maker):
    with StandinServer(STANDIN_KEY, faults=StandinFaults(error_rate=1.0)) as failing:
        broken = StripeGateway(session_maker, secret_key=STANDIN_KEY, api_base=failing.url)
        with pytest.raises(GatewayUnavailable):
            await broken.charge(
                idempotency_key=new_key(), payment_method=STRIPE_CARDS.ok,
                amount=Decimal("1.00"), currency="USD", description="x",
            )  # fmt: skip
        assert failing.store.objects("payment_intent") == {}
        wrong = StripeGateway(session_maker, secret_key="sk_test_wrong", api_base=failing.url)
        with pytest.raises(GatewayUnavailable):
            await wrong.charge(
                idempotency_key=new_key(), payment_method=STRIPE_CARDS.ok,
                amount=Decimal("1.00"), currency="USD", description="x",
            )  # fmt: skip


def test_stripe_secrets_are_not_shown_by_the_settings(db_settings):
    with StandinServer(STANDIN_KEY) as standin:
        shown = repr(stripe_settings(db_settings, standin))
    assert STANDIN_KEY not in shown


def test_stripe_without_a_secret_key_is_refused_at_start(db_settings, session_maker):
    no_key = db_settings.model_copy(update={"payment_gateway": "stripe"})
    with pytest.raises(ValueError, match="STRIPE_SECRET_KEY"):
        build_gateway(no_key, session_maker)


async def test_a_waiting_payment_is_cancelled_but_a_succeeded_one_is_not(gateway):
    with pytest.raises(PaymentRequiresAction) as waiting:
        await gateway.charge(
            idempotency_key=new_key(), payment_method=STRIPE_CARDS.requires_action,
            amount=Decimal("3.00"), currency="USD", description="x",
        )  # fmt: skip
    reference = waiting.value.payment_reference
    assert await gateway.cancel_payment(payment_reference=reference, idempotency_key=new_key())
    assert await gateway.cancel_payment(payment_reference=reference, idempotency_key=new_key())
    paid = await gateway.charge(
        idempotency_key=new_key(), payment_method=STRIPE_CARDS.ok, amount=Decimal("3.00"),
        currency="USD", description="x",
    )  # fmt: skip
    assert not await gateway.cancel_payment(
        payment_reference=paid.charge_reference, idempotency_key=new_key()
    )
