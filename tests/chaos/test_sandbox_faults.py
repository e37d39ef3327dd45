"""The sandbox's fault injection behaves like a real processor's failures, through the same
book: a processing error records nothing, a lost answer leaves the charge recorded once."""

import uuid
from decimal import Decimal

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.payments.factory import build_gateway
from activities.payments.gateway import GatewayTimeout, GatewayUnavailable, PaymentGateway
from activities.payments.sandbox import SandboxGateway
from activities.payments.sandbox_faults import MAX_FAULTS_PER_KEY, FaultInjector, SandboxFaults
from tokenbill.settings import Settings

Maker = async_sessionmaker[AsyncSession]
ALWAYS = 0.999999


async def charge(gateway: PaymentGateway, key: str, method: str = "pm_card_ok") -> str:
    result = await gateway.charge(
        idempotency_key=key, payment_method=method, amount=Decimal("58.00"), currency="USD",
        description="Starter Pack",
    )  # fmt: skip
    return result.charge_reference


async def stored(session_maker: Maker, key: str) -> list[tuple[str, int]]:
    async with session_maker() as session:
        rows = await session.execute(
            text("SELECT status, attempts FROM payment_gateway_operations "
                 "WHERE idempotency_key = :k"), {"k": key},
        )  # fmt: skip
        return [(row.status, row.attempts) for row in rows]


async def test_processing_error_records_nothing_and_the_retry_charges_once(
    session_maker: Maker,
) -> None:
    key = f"test:{uuid.uuid4().hex}:charge"
    failing = SandboxGateway(session_maker, faults=SandboxFaults(fault_rate=ALWAYS))
    with pytest.raises(GatewayUnavailable):
        await charge(failing, key)
    assert await stored(session_maker, key) == []
    await charge(SandboxGateway(session_maker), key)
    assert await stored(session_maker, key) == [("succeeded", 1)]


async def test_lost_answer_leaves_the_charge_recorded_and_the_retry_replays_it(
    session_maker: Maker,
) -> None:
    key = f"test:{uuid.uuid4().hex}:charge"
    losing = SandboxGateway(session_maker, faults=SandboxFaults(lost_response_rate=ALWAYS))
    with pytest.raises(GatewayTimeout):
        await charge(losing, key)
    assert await stored(session_maker, key) == [("succeeded", 1)]
    first = await SandboxGateway(session_maker).charge(
        idempotency_key=key, payment_method="pm_card_ok", amount=Decimal("58.00"),
        currency="USD", description="Starter Pack",
    )  # fmt: skip
    assert first.replayed
    assert await stored(session_maker, key) == [("succeeded", 2)]


async def test_lost_refund_answer_is_refunded_once(session_maker: Maker) -> None:
    key = f"test:{uuid.uuid4().hex}"
    reference = await charge(SandboxGateway(session_maker), f"{key}:charge")
    losing = SandboxGateway(session_maker, faults=SandboxFaults(lost_response_rate=ALWAYS))
    with pytest.raises(GatewayTimeout):
        await losing.refund(idempotency_key=f"{key}:refund", charge_reference=reference,
                            amount=Decimal("58.00"), currency="USD")  # fmt: skip
    again = await SandboxGateway(session_maker).refund(
        idempotency_key=f"{key}:refund", charge_reference=reference, amount=Decimal("58.00"),
        currency="USD",
    )  # fmt: skip
    assert again.replayed
    assert await stored(session_maker, f"{key}:refund") == [("succeeded", 2)]


def outcomes(seed: int) -> list[str]:
    injector = FaultInjector(SandboxFaults(fault_rate=0.3, lost_response_rate=0.3, seed=seed))
    seen: list[str] = []
    for number in range(60):
        try:
            injector.before_processing("charge", f"k{number}")
            injector.after_recording("charge", f"k{number}")
            seen.append("ok")
        except GatewayUnavailable:
            seen.append("error")
        except GatewayTimeout:
            seen.append("lost")
    return seen


def test_one_seed_draws_one_sequence_of_faults() -> None:
    assert outcomes(7) == outcomes(7)
    assert outcomes(7) != outcomes(8)
    assert {"ok", "error", "lost"} <= set(outcomes(7))


def test_a_key_meets_a_few_faults_then_goes_through_as_after_a_processors_hiccup() -> None:
    injector = FaultInjector(SandboxFaults(fault_rate=ALWAYS, seed=7))
    for _ in range(MAX_FAULTS_PER_KEY):
        with pytest.raises(GatewayUnavailable):
            injector.before_processing("charge", "purchase:TKP-1:charge")
    injector.before_processing("charge", "purchase:TKP-1:charge")
    injector.after_recording("charge", "purchase:TKP-1:charge")
    with pytest.raises(GatewayUnavailable):
        injector.before_processing("charge", "purchase:TKP-2:charge")


def test_no_fault_without_a_rate() -> None:
    injector = FaultInjector(SandboxFaults(seed=7))
    for number in range(200):
        injector.before_processing("charge", f"k{number}")
        injector.after_recording("charge", f"k{number}")


async def test_settings_turn_the_faults_on(session_maker: Maker, db_settings: Settings) -> None:
    faulty = db_settings.model_copy(update={"sandbox_gateway_fault_rate": ALWAYS})
    with pytest.raises(GatewayUnavailable):
        await charge(build_gateway(faulty, session_maker), f"test:{uuid.uuid4().hex}:charge")


def test_a_certain_fault_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(_env_file=None, sandbox_gateway_lost_response_rate=1.0)
    with pytest.raises(ValueError):
        SandboxFaults(fault_rate=1.0)
