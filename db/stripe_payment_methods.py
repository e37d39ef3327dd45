"""An organisation's Stripe Customer id and the card saved on it (brand, last four, expiry)."""

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import StripePaymentMethod


@dataclass(frozen=True)
class SavedCard:
    payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


async def customer_id(session: AsyncSession, organization_id: int) -> str | None:
    return await session.scalar(
        select(StripePaymentMethod.stripe_customer_id).where(
            StripePaymentMethod.organization_id == organization_id
        )
    )


async def remember_customer(session: AsyncSession, organization_id: int, customer: str) -> str:
    """Store the organisation's customer id; the one stored first wins (returned)."""
    await session.execute(
        insert(StripePaymentMethod)
        .values(organization_id=organization_id, stripe_customer_id=customer)
        .on_conflict_do_nothing(index_elements=[StripePaymentMethod.organization_id])
    )
    stored = await customer_id(session, organization_id)
    assert stored is not None
    return stored


async def organization_of_customer(session: AsyncSession, customer: str) -> int | None:
    return await session.scalar(
        select(StripePaymentMethod.organization_id).where(
            StripePaymentMethod.stripe_customer_id == customer
        )
    )


async def save_card(session: AsyncSession, organization_id: int, card: SavedCard) -> None:
    await session.execute(
        update(StripePaymentMethod)
        .where(StripePaymentMethod.organization_id == organization_id)
        .values(
            payment_method_id=card.payment_method_id, brand=card.brand, last4=card.last4,
            exp_month=card.exp_month, exp_year=card.exp_year,
            updated_at=func.now(),
        )
    )  # fmt: skip


async def saved_card(session: AsyncSession, organization_id: int) -> SavedCard | None:
    row = await session.get(StripePaymentMethod, organization_id)
    if row is None or row.payment_method_id is None:
        return None
    return SavedCard(
        row.payment_method_id, row.brand or "", row.last4 or "", row.exp_month or 0,
        row.exp_year or 0,
    )  # fmt: skip
