"""Helpers of the Stripe tests: the stand-in on loopback, the app configured for it, charges
made on the stand-in with the SDK, purchases booked for them, and signed event delivery."""

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
import stripe
from pydantic import SecretStr
from sqlalchemy import text

from db import ledger
from tests.api.helpers import Maker, api_client
from tests.database_helpers import insert_purchase_row
from tokenbill.devstack.stripe_standin.event_signing import signed_headers
from tokenbill.devstack.stripe_standin.server import StandinServer
from tokenbill.settings import Settings
from workflows.purchase_activity_types import credit_key

STANDIN_KEY = "sk_test_standin_events"
WEBHOOK_SECRET = "whsec_test_tokenbill_events"
WEBHOOK_URL = "/api/tokens/stripe/webhook"


@pytest.fixture(scope="session")
def standin() -> Iterator[StandinServer]:
    with StandinServer(STANDIN_KEY) as server:
        yield server


@pytest.fixture(scope="session")
def stripe_settings(settings: Settings, standin: StandinServer) -> Settings:
    """No worker serves this task queue: purchases started here stay pending."""
    return settings.model_copy(
        update={
            "temporal_task_queue": "tokenbill-stripe-tests",
            "payment_gateway": "stripe",
            "stripe_secret_key": SecretStr(STANDIN_KEY),
            "stripe_publishable_key": "pk_test_standin_events",
            "stripe_webhook_secret": SecretStr(WEBHOOK_SECRET),
            "stripe_api_base": standin.url,
        }
    )


@pytest.fixture(scope="session")
async def stripe_api(stripe_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(stripe_settings) as client:
        yield client


def sdk(standin: StandinServer) -> stripe.StripeClient:
    return stripe.StripeClient(
        STANDIN_KEY, base_addresses={"api": standin.url}, http_client=stripe.HTTPXClient()
    )


async def deliver(
    client: httpx.AsyncClient,
    event: dict[str, Any],
    *,
    secret: str = WEBHOOK_SECRET,
    timestamp: int | None = None,
) -> httpx.Response:
    """POST the event as Stripe does: its JSON, signed for the endpoint's secret."""
    payload = json.dumps(event)
    return await client.post(
        WEBHOOK_URL, content=payload, headers=signed_headers(payload, secret, timestamp)
    )


def emitted(standin: StandinServer, event_type: str, object_id: str) -> dict[str, Any]:
    """The event the stand-in made when `object_id` changed as `event_type` says."""
    for event in reversed(list(standin.store.objects("event").values())):
        if event["type"] == event_type and event["data"]["object"]["id"] == object_id:
            return dict(event)
    raise AssertionError(f"no {event_type} for {object_id}")


@dataclass(frozen=True)
class PaidPurchase:
    reference: str
    organization_id: int
    wallet_id: int
    payment_intent: str
    charge: str
    tokens: Decimal
    total: Decimal


async def paid_purchase(
    session_maker: Maker,
    standin: StandinServer,
    organization_id: int,
    package_id: int,
    *,
    tokens: str = "500",
    total: str = "290.00",
) -> PaidPurchase:
    """A purchase charged on the stand-in (a PaymentIntent with pm_card_visa), completed and
    credited in the ledger as the purchase workflow books it."""
    reference = "TKP-" + uuid.uuid4().hex[:20].upper()
    amount = Decimal(total)
    intent = await sdk(standin).v1.payment_intents.create_async(
        params={
            "amount": int(amount * 100), "currency": "usd", "payment_method": "pm_card_visa",
            "confirm": True, "metadata": {"purchase_reference": reference,
                                          "organization_id": str(organization_id)},
        },
        options={"idempotency_key": f"purchase:{reference}:charge"},
    )  # fmt: skip
    assert intent.status == "succeeded"
    async with session_maker() as session, session.begin():
        wallet = await ledger.ensure_wallet(session, organization_id)
        await insert_purchase_row(
            session, reference, organization_id=organization_id, wallet_id=wallet,
            package_id=package_id, kind="one_time", tokens=Decimal(tokens),
            price=amount / Decimal(tokens), subtotal=amount, tax_rate=Decimal(0), tax=Decimal(0),
            total=amount, currency="USD", payment_method="card", status="completed",
            gateway_charge_id=intent.id,
        )  # fmt: skip
        await session.execute(
            text(
                "UPDATE token_purchases SET processing_at = now(), completed_at = now() "
                "WHERE purchase_reference_id = :r"
            ),
            {"r": reference},
        )
        await ledger.credit(
            session, wallet_id=wallet, amount=Decimal(tokens),
            idempotency_key=credit_key(reference), reference=reference,
        )  # fmt: skip
    return PaidPurchase(
        reference, organization_id, wallet, intent.id, str(intent.latest_charge),
        Decimal(tokens), amount,
    )  # fmt: skip


async def wallet_balance(session_maker: Maker, organization_id: int) -> Decimal:
    async with session_maker() as session:
        value = await session.scalar(
            text(
                "SELECT current_balance FROM organization_token_wallets WHERE organization_id = :o"
            ),
            {"o": organization_id},
        )
    return Decimal(value)


async def account_total(session_maker: Maker, code: str, reference: str) -> Decimal:
    """What the entries of the transactions under `reference` put on a system account."""
    async with session_maker() as session:
        value = await session.scalar(
            text(
                "SELECT coalesce(sum(e.amount), 0) FROM ledger_entries e "
                "JOIN ledger_accounts a ON a.id = e.account_id "
                "JOIN ledger_transactions t ON t.id = e.transaction_id "
                "WHERE a.code = :code AND t.reference = :ref"
            ),
            {"code": code, "ref": reference},
        )
    return Decimal(value)
