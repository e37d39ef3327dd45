"""Both payment gateways for the gateway-dependent tests: the sandbox and Stripe (the SDK against
the local stand-in, tokenbill/devstack/stripe_standin), each with its table of test cards.

A test that takes `payment_gateway_kind` (or a fixture built on it: `gateway_settings`,
`payment_gateway`, `cards`) runs once per gateway. `cards` names the card of each behaviour, so
the same test body runs on both.
"""

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.payments.factory import build_gateway
from activities.payments.gateway import PaymentGateway
from activities.payments.minor_units import from_minor_units
from tokenbill.devstack.stripe_standin.faults import StandinFaults
from tokenbill.devstack.stripe_standin.server import StandinServer
from tokenbill.settings import Settings

STANDIN_KEY = "sk_test_tokenbill_standin"
# The client gives up after STRIPE_TIMEOUT; the stand-in's lost answers hang longer than that.
STRIPE_TIMEOUT = timedelta(seconds=4)
STANDIN_HANG_SECONDS = 7.0
GATEWAY_KINDS = ("sandbox", "stripe")


@dataclass(frozen=True)
class CardTable:
    """The payment method of each behaviour at one gateway, and the decline codes it reports."""

    ok: str
    soft_decline: str
    soft_decline_code: str
    insufficient_funds: str
    hard_decline: str
    hard_decline_code: str
    stolen: str
    timeout_once: str
    refund_refused: str
    unknown: str
    requires_action: str | None  # a card that needs the customer's authentication (3-D Secure)
    charge_prefix: str  # how the gateway's charge references start


SANDBOX_CARDS = CardTable(
    ok="pm_card_ok",
    soft_decline="pm_card_declined",
    soft_decline_code="card_declined",
    insufficient_funds="pm_card_insufficient_funds",
    hard_decline="pm_card_lost",
    hard_decline_code="lost_card",
    stolen="pm_card_stolen",
    timeout_once="pm_card_timeout_once",
    refund_refused="pm_card_refund_refused",
    unknown="pm_card_made_up",
    requires_action=None,
    charge_prefix="ch_",
)
STRIPE_CARDS = CardTable(
    ok="pm_card_visa",
    soft_decline="pm_card_chargeDeclined",
    soft_decline_code="card_declined",
    insufficient_funds="pm_card_chargeDeclinedInsufficientFunds",
    hard_decline="pm_card_chargeDeclinedLostCard",
    hard_decline_code="lost_card",
    stolen="pm_card_chargeDeclinedStolenCard",
    timeout_once="pm_card_standinTimeoutOnce",
    refund_refused="pm_card_createDispute",
    unknown="pm_card_made_up",
    requires_action="pm_card_authenticationRequired",
    charge_prefix="pi_",
)
CARDS = {"sandbox": SANDBOX_CARDS, "stripe": STRIPE_CARDS}


@pytest.fixture(scope="session")
def stripe_standin() -> Iterator[StandinServer]:
    """The Stripe stand-in on loopback, for the whole session (its objects are never shared:
    every test uses fresh keys and organisations)."""
    with StandinServer(
        STANDIN_KEY, faults=StandinFaults(hang_seconds=STANDIN_HANG_SECONDS)
    ) as server:
        yield server


def stripe_settings(base: Settings, standin: StandinServer) -> Settings:
    return base.model_copy(
        update={
            "payment_gateway": "stripe",
            "stripe_secret_key": SecretStr(STANDIN_KEY),
            "stripe_api_base": standin.url,
            "stripe_timeout": STRIPE_TIMEOUT,
        }
    )


@pytest.fixture(params=GATEWAY_KINDS)
def payment_gateway_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def cards(payment_gateway_kind: str) -> CardTable:
    return CARDS[payment_gateway_kind]


@pytest.fixture
def gateway_settings(
    request: pytest.FixtureRequest, payment_gateway_kind: str, db_settings: Settings
) -> Settings:
    """The test's settings (those of `settings` when the test has a Temporal server) with the
    gateway of this run."""
    base: Settings = (
        request.getfixturevalue("settings") if "settings" in request.fixturenames else db_settings
    )
    if payment_gateway_kind == "sandbox":
        return base
    return stripe_settings(base, request.getfixturevalue("stripe_standin"))


@pytest.fixture
def payment_gateway(
    gateway_settings: Settings, session_maker: async_sessionmaker[AsyncSession]
) -> PaymentGateway:
    return build_gateway(gateway_settings, session_maker)


# (operation, status, amount): what the processor's own records say was charged and refunded.
ProviderOperation = tuple[str, str, Decimal]
ProviderBook = Callable[[str], Awaitable[list[ProviderOperation]]]


def standin_operations(standin: StandinServer, key_prefix: str) -> list[ProviderOperation]:
    """The stand-in's payment intents and refunds made under keys starting with `key_prefix`."""
    store = standin.store

    def ours(obj: dict[str, object]) -> bool:
        metadata = obj.get("metadata")
        return isinstance(metadata, dict) and str(metadata.get("tokenbill_key", "")).startswith(
            key_prefix
        )

    charges = [
        ("charge", "succeeded" if pi["status"] == "succeeded" else "declined",
         from_minor_units(pi["amount"], pi["currency"]))
        for pi in list(store.objects("payment_intent").values()) if ours(pi)
    ]  # fmt: skip
    refunds = [
        ("refund", r["status"], from_minor_units(r["amount"], r["currency"]))
        for r in list(store.objects("refund").values()) if ours(r)
    ]  # fmt: skip
    return charges + refunds


@pytest.fixture
def provider_book(
    request: pytest.FixtureRequest,
    payment_gateway_kind: str,
    session_maker: async_sessionmaker[AsyncSession],
) -> ProviderBook:
    """Reads the charges and refunds the gateway of this run holds under a key prefix (the
    sandbox's book in PostgreSQL, or the Stripe stand-in's objects)."""
    if payment_gateway_kind == "stripe":
        standin: StandinServer = request.getfixturevalue("stripe_standin")

        async def from_standin(key_prefix: str) -> list[ProviderOperation]:
            return standin_operations(standin, key_prefix)

        return from_standin

    async def from_sandbox(key_prefix: str) -> list[ProviderOperation]:
        async with session_maker() as session:
            rows = await session.execute(
                text(
                    "SELECT operation, status, amount FROM payment_gateway_operations "
                    "WHERE idempotency_key LIKE :k ORDER BY id"
                ),
                {"k": f"{key_prefix}%"},
            )
            return [(row.operation, row.status, Decimal(row.amount)) for row in rows]

    return from_sandbox
