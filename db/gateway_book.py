"""The sandbox payment gateway's book (payment_gateway_operations): every charge and refund under
its idempotency key, so a repeated key finds the first result and the unique key decides, inside
the database, which of two concurrent requests records."""

from dataclasses import asdict, dataclass
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import PaymentGatewayOperation

Op = PaymentGatewayOperation


@dataclass(frozen=True)
class GatewayOperation:
    """One charge or refund as the gateway books it."""

    idempotency_key: str
    operation: str
    gateway_reference: str
    payment_method: str | None
    charge_reference: str | None
    amount: Decimal
    currency: str
    status: str
    decline_code: str | None


@dataclass(frozen=True)
class CapturedCharge:
    amount: Decimal
    currency: str
    payment_method: str | None


_BOOKED = (
    Op.idempotency_key, Op.operation, Op.gateway_reference, Op.payment_method,
    Op.charge_reference, Op.amount, Op.currency, Op.status, Op.decline_code,
)  # fmt: skip


async def record_operation(session: AsyncSession, operation: GatewayOperation) -> GatewayOperation:
    """Book the operation, or count one more attempt of the one booked under its key; the booked
    one either way."""
    statement = (
        insert(Op)
        .values(**asdict(operation))
        .on_conflict_do_update(
            index_elements=[Op.idempotency_key], set_={"attempts": Op.attempts + 1}
        )
        .returning(*_BOOKED)
    )
    return GatewayOperation(**(await session.execute(statement)).one()._mapping)


async def lock_captured_charge(
    session: AsyncSession, charge_reference: str
) -> CapturedCharge | None:
    """The succeeded charge, locked until the transaction ends so every refund of it is
    serialised."""
    statement = (
        select(Op.amount, Op.currency, Op.payment_method)
        .where(
            Op.gateway_reference == charge_reference,
            Op.operation == "charge",
            Op.status == "succeeded",
        )
        .with_for_update()
    )
    row = (await session.execute(statement)).one_or_none()
    return None if row is None else CapturedCharge(**row._mapping)


async def refunded_amount(session: AsyncSession, charge_reference: str) -> Decimal:
    """How much of the charge succeeded refunds have given back."""
    total = await session.scalar(
        select(func.coalesce(func.sum(Op.amount), 0)).where(
            Op.operation == "refund",
            Op.charge_reference == charge_reference,
            Op.status == "succeeded",
        )
    )
    return Decimal(total or 0)


async def count_repeated_attempt(
    session: AsyncSession, idempotency_key: str
) -> GatewayOperation | None:
    """Count one more attempt of the operation booked under the key; it, or None when none is
    booked."""
    statement = (
        update(Op)
        .where(Op.idempotency_key == idempotency_key)
        .values(attempts=Op.attempts + 1)
        .returning(*_BOOKED)
    )
    row = (await session.execute(statement)).one_or_none()
    return None if row is None else GatewayOperation(**row._mapping)
