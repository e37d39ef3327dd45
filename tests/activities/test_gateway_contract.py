"""What every payment gateway promises the workflows, proven on the sandbox and on Stripe (the
SDK against the local stand-in): charges and refunds under idempotency keys, declines hard or
soft, a lost answer retried with the same key charging once."""

import asyncio
import uuid
from decimal import Decimal

import pytest

from activities.payments.gateway import (
    ChargeResult,
    GatewayTimeout,
    GatewayUnavailable,
    IdempotencyKeyMismatch,
    InvalidGatewayRequest,
    PaymentDeclined,
    PaymentGateway,
    RefundRefused,
)
from tests.payment_gateways import CardTable


def new_key(label: str = "charge") -> str:
    return f"test:{uuid.uuid4().hex}:{label}"


async def charge(
    gateway: PaymentGateway, key: str, method: str, amount: str = "58.00"
) -> ChargeResult:
    return await gateway.charge(
        idempotency_key=key,
        payment_method=method,
        amount=Decimal(amount),
        currency="USD",
        description="Starter Pack",
    )


async def refund(gateway: PaymentGateway, key: str, charge_reference: str, amount: str):
    return await gateway.refund(
        idempotency_key=key, charge_reference=charge_reference, amount=Decimal(amount),
        currency="USD",
    )  # fmt: skip


async def test_ok_card_is_charged_and_a_repeated_key_replays_the_charge(
    payment_gateway: PaymentGateway, cards: CardTable
):
    key = new_key()
    first = await charge(payment_gateway, key, cards.ok, "116.00")
    assert (first.amount, first.currency, first.replayed) == (Decimal("116.00"), "USD", False)
    again = await charge(payment_gateway, key, cards.ok, "116.00")
    assert again.replayed and again.charge_reference == first.charge_reference


@pytest.mark.parametrize(
    ("behaviour", "hard"),
    [("soft_decline", False), ("insufficient_funds", False), ("hard_decline", True),
     ("stolen", True), ("unknown", True)],
)  # fmt: skip
async def test_declines_are_hard_or_soft_and_replayed(
    payment_gateway: PaymentGateway, cards: CardTable, behaviour: str, hard: bool
):
    method = getattr(cards, behaviour)
    key = new_key()
    with pytest.raises(PaymentDeclined) as first:
        await charge(payment_gateway, key, method)
    assert first.value.hard is hard and first.value.message
    with pytest.raises(PaymentDeclined) as replay:
        await charge(payment_gateway, key, method)
    assert (replay.value.code, replay.value.hard) == (first.value.code, hard)


async def test_decline_codes_name_the_reason(payment_gateway: PaymentGateway, cards: CardTable):
    codes = {}
    for method in (cards.soft_decline, cards.insufficient_funds, cards.hard_decline, cards.stolen):
        with pytest.raises(PaymentDeclined) as declined:
            await charge(payment_gateway, new_key(), method)
        codes[method] = declined.value.code
    assert list(codes.values()) == [
        cards.soft_decline_code,
        "insufficient_funds",
        cards.hard_decline_code,
        "stolen_card",
    ]


async def test_timeout_once_card_charges_once_and_answers_the_retry(
    payment_gateway: PaymentGateway, cards: CardTable
):
    key = new_key()
    with pytest.raises(GatewayTimeout):
        await charge(payment_gateway, key, cards.timeout_once)
    retried = await charge(payment_gateway, key, cards.timeout_once)
    assert retried.replayed
    again = await charge(payment_gateway, key, cards.timeout_once)
    assert again.charge_reference == retried.charge_reference


async def test_same_key_with_another_amount_or_method_is_refused(
    payment_gateway: PaymentGateway, cards: CardTable
):
    key = new_key()
    await charge(payment_gateway, key, cards.ok, "10.00")
    with pytest.raises(IdempotencyKeyMismatch):
        await charge(payment_gateway, key, cards.ok, "10.01")
    with pytest.raises(IdempotencyKeyMismatch):
        await charge(payment_gateway, key, cards.soft_decline, "10.00")


@pytest.mark.parametrize("amount", ["0", "-5.00", "1.001"])
async def test_malformed_amounts_are_refused(
    payment_gateway: PaymentGateway, cards: CardTable, amount: str
):
    with pytest.raises(InvalidGatewayRequest):
        await charge(payment_gateway, new_key(), cards.ok, amount)


async def test_concurrent_charges_with_one_key_charge_once(
    payment_gateway: PaymentGateway, cards: CardTable
):
    key = new_key()

    async def attempt() -> str | None:
        try:
            return (await charge(payment_gateway, key, cards.ok)).charge_reference
        except GatewayUnavailable:  # Stripe: "another request with this key is in progress"
            return None

    references = set(await asyncio.gather(*(attempt() for _ in range(10))))
    settled = (await charge(payment_gateway, key, cards.ok)).charge_reference
    assert references - {None} == {settled}


async def test_refund_is_idempotent_and_limited_to_the_charge(
    payment_gateway: PaymentGateway, cards: CardTable
):
    captured = await charge(payment_gateway, new_key(), cards.ok, "100.00")
    key = new_key("refund")
    first = await refund(payment_gateway, key, captured.charge_reference, "60.00")
    replay = await refund(payment_gateway, key, captured.charge_reference, "60.00")
    assert replay.refund_reference == first.refund_reference and replay.replayed
    assert not first.replayed and first.amount == Decimal("60.00")
    with pytest.raises(RefundRefused):
        await refund(payment_gateway, new_key("refund"), captured.charge_reference, "40.01")
    rest = await refund(payment_gateway, new_key("refund"), captured.charge_reference, "40.00")
    assert rest.amount == Decimal("40.00")


async def test_refund_refused_card_is_charged_but_not_refunded(
    payment_gateway: PaymentGateway, cards: CardTable
):
    captured = await charge(payment_gateway, new_key(), cards.refund_refused, "20.00")
    with pytest.raises(RefundRefused):
        await refund(payment_gateway, new_key("refund"), captured.charge_reference, "20.00")


async def test_refund_of_an_unknown_charge_is_refused(payment_gateway: PaymentGateway):
    with pytest.raises(RefundRefused):
        await refund(payment_gateway, new_key("refund"), "ch_does_not_exist", "1.00")
