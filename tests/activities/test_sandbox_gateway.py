"""The sandbox gateway behaves like a card processor's test mode, its book in PostgreSQL."""

import asyncio
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.payments.factory import build_gateway
from activities.payments.gateway import (
    GatewayTimeout,
    IdempotencyKeyMismatch,
    InvalidGatewayRequest,
    PaymentDeclined,
    RefundRefused,
)
from activities.payments.sandbox import SandboxGateway
from tokenbill.settings import Settings

Maker = async_sessionmaker[AsyncSession]


def new_key(label: str = "charge") -> str:
    return f"test:{uuid.uuid4().hex}:{label}"


async def charge(
    gateway: SandboxGateway, key: str, method: str = "pm_card_ok", amount: str = "58.00"
):
    return await gateway.charge(
        idempotency_key=key,
        payment_method=method,
        amount=Decimal(amount),
        currency="USD",
        description="Starter Pack",
    )


async def stored(session_maker: Maker, key: str) -> list[tuple[str, str, str | None, int]]:
    """(operation, status, decline code, attempts) of every row under the key."""
    async with session_maker() as session:
        rows = await session.execute(
            text(
                "SELECT operation, status, decline_code, attempts "
                "FROM payment_gateway_operations WHERE idempotency_key = :k"
            ),
            {"k": key},
        )
        return [tuple(row) for row in rows]


async def test_ok_card_is_charged_and_recorded(session_maker):
    gateway = SandboxGateway(session_maker)
    key = new_key()
    result = await charge(gateway, key, amount="116.00")
    assert result.charge_reference.startswith("ch_")
    assert (result.amount, result.currency, result.replayed) == (Decimal("116.00"), "USD", False)
    assert await stored(session_maker, key) == [("charge", "succeeded", None, 1)]


@pytest.mark.parametrize(
    ("method", "code", "hard"),
    [
        ("pm_card_declined", "card_declined", False),
        ("pm_card_insufficient_funds", "insufficient_funds", False),
        ("pm_card_lost", "lost_card", True),
        ("pm_card_stolen", "stolen_card", True),
        ("pm_card_made_up", "invalid_payment_method", True),
        ("not-a-payment-method", "invalid_payment_method", True),
    ],
)
async def test_declining_cards_are_declined_and_the_decline_is_replayed(
    session_maker, method, code, hard
):
    key = new_key()
    with pytest.raises(PaymentDeclined) as first:
        await charge(SandboxGateway(session_maker), key, method)
    assert (first.value.code, first.value.hard) == (code, hard)
    assert first.value.message
    with pytest.raises(PaymentDeclined) as replay:
        await charge(SandboxGateway(session_maker), key, method)
    assert (replay.value.code, replay.value.hard) == (code, hard)
    assert await stored(session_maker, key) == [("charge", "declined", code, 2)]


async def test_timeout_once_card_charges_on_first_attempt_and_answers_on_retry(session_maker):
    gateway = SandboxGateway(session_maker)
    key = new_key()
    with pytest.raises(GatewayTimeout):
        await charge(gateway, key, "pm_card_timeout_once")
    assert await stored(session_maker, key) == [("charge", "succeeded", None, 1)]
    retried = await charge(gateway, key, "pm_card_timeout_once")
    assert retried.replayed
    again = await charge(gateway, key, "pm_card_timeout_once")
    assert again.charge_reference == retried.charge_reference
    assert await stored(session_maker, key) == [("charge", "succeeded", None, 3)]


async def test_timeout_once_card_times_out_again_for_a_new_key(session_maker):
    gateway = SandboxGateway(session_maker)
    for _ in range(2):
        with pytest.raises(GatewayTimeout):
            await charge(gateway, new_key(), "pm_card_timeout_once")


async def test_replayed_key_returns_first_charge_from_a_new_gateway_instance(session_maker):
    key = new_key()
    first = await charge(SandboxGateway(session_maker), key)
    restarted = build_gateway_for_test(session_maker)
    replay = await charge(restarted, key)
    assert replay.charge_reference == first.charge_reference
    assert replay.replayed and not first.replayed
    assert await stored(session_maker, key) == [("charge", "succeeded", None, 2)]


def build_gateway_for_test(session_maker: Maker) -> SandboxGateway:
    """The gateway the settings choose, as a restarted worker builds it."""
    gateway = build_gateway(Settings(_env_file=None), session_maker)
    assert isinstance(gateway, SandboxGateway)
    return gateway


async def test_same_key_with_another_amount_or_method_is_refused(session_maker):
    gateway = SandboxGateway(session_maker)
    key = new_key()
    await charge(gateway, key, amount="10.00")
    with pytest.raises(IdempotencyKeyMismatch):
        await charge(gateway, key, amount="10.01")
    with pytest.raises(IdempotencyKeyMismatch):
        await charge(gateway, key, method="pm_card_declined", amount="10.00")
    assert await stored(session_maker, key) == [("charge", "succeeded", None, 1)]


@pytest.mark.parametrize("amount", ["0", "-5.00", "1.001", "NaN", "1e16"])
async def test_malformed_amounts_are_refused_before_anything_is_stored(session_maker, amount):
    key = new_key()
    with pytest.raises(InvalidGatewayRequest):
        await charge(SandboxGateway(session_maker), key, amount=amount)
    assert await stored(session_maker, key) == []


async def test_concurrent_charges_with_one_key_charge_once(session_maker):
    gateway = SandboxGateway(session_maker)
    key = new_key()
    results = await asyncio.gather(*(charge(gateway, key) for _ in range(20)))
    assert len({r.charge_reference for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert await stored(session_maker, key) == [("charge", "succeeded", None, 20)]


async def test_refund_is_idempotent_and_limited_to_the_charge(session_maker):
    gateway = SandboxGateway(session_maker)
    captured = await charge(gateway, new_key(), amount="100.00")
    refund_key = new_key("refund")
    first = await gateway.refund(
        idempotency_key=refund_key,
        charge_reference=captured.charge_reference,
        amount=Decimal("60.00"),
        currency="USD",
    )
    replay = await SandboxGateway(session_maker).refund(
        idempotency_key=refund_key,
        charge_reference=captured.charge_reference,
        amount=Decimal("60.00"),
        currency="USD",
    )
    assert replay.refund_reference == first.refund_reference and replay.replayed
    with pytest.raises(RefundRefused) as too_much:
        await gateway.refund(
            idempotency_key=new_key("refund"),
            charge_reference=captured.charge_reference,
            amount=Decimal("40.01"),
            currency="USD",
        )
    assert too_much.value.code == "amount_exceeds_charge"
    rest = await gateway.refund(
        idempotency_key=new_key("refund"),
        charge_reference=captured.charge_reference,
        amount=Decimal("40.00"),
        currency="USD",
    )
    assert rest.amount == Decimal("40.00")
    assert await stored(session_maker, refund_key) == [("refund", "succeeded", None, 2)]


async def test_refund_of_unknown_or_declined_charge_is_refused(session_maker):
    gateway = SandboxGateway(session_maker)
    with pytest.raises(RefundRefused) as unknown:
        await gateway.refund(
            idempotency_key=new_key("refund"),
            charge_reference="ch_does_not_exist",
            amount=Decimal("1.00"),
            currency="USD",
        )
    assert unknown.value.code == "unknown_charge"
    declined_key = new_key()
    with pytest.raises(PaymentDeclined):
        await charge(gateway, declined_key, "pm_card_declined")
    async with session_maker() as session:
        declined_reference = await session.scalar(
            text(
                "SELECT gateway_reference FROM payment_gateway_operations "
                "WHERE idempotency_key = :k"
            ),
            {"k": declined_key},
        )
    with pytest.raises(RefundRefused) as declined:
        await gateway.refund(
            idempotency_key=new_key("refund"),
            charge_reference=declined_reference,
            amount=Decimal("1.00"),
            currency="USD",
        )
    assert declined.value.code == "unknown_charge"


async def test_concurrent_refunds_never_exceed_the_charge(session_maker):
    gateway = SandboxGateway(session_maker)
    captured = await charge(gateway, new_key(), amount="50.00")

    async def refund_ten() -> bool:
        try:
            await gateway.refund(
                idempotency_key=new_key("refund"),
                charge_reference=captured.charge_reference,
                amount=Decimal("10.00"),
                currency="USD",
            )
        except RefundRefused:
            return False
        return True

    outcomes = await asyncio.gather(*(refund_ten() for _ in range(8)))
    assert outcomes.count(True) == 5
    async with session_maker() as session:
        refunded = await session.scalar(
            text(
                "SELECT sum(amount) FROM payment_gateway_operations "
                "WHERE operation = 'refund' AND charge_reference = :c"
            ),
            {"c": captured.charge_reference},
        )
    assert refunded == Decimal("50.00")
