"""The card an organisation saved: its id as the Customer's default (stripe_customers, which the
Stripe gateway charges off-session) and how it shows (stripe_payment_methods)."""

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import StripeCustomer, StripePaymentMethod


@dataclass(frozen=True)
class SavedCard:
    payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


async def organization_of_customer(session: AsyncSession, customer_id: str) -> int | None:
    return await session.scalar(
        select(StripeCustomer.organization_id).where(StripeCustomer.customer_id == customer_id)
    )


async def save_card(session: AsyncSession, organization_id: int, card: SavedCard) -> None:
    """Make the card the organisation's default and keep how it shows (the last saved wins)."""
    await session.execute(
        update(StripeCustomer)
        .where(StripeCustomer.organization_id == organization_id)
        .values(default_payment_method=card.payment_method_id)
    )
    shown = {
        "payment_method_id": card.payment_method_id, "brand": card.brand, "last4": card.last4,
        "exp_month": card.exp_month, "exp_year": card.exp_year,
    }  # fmt: skip
    upsert = insert(StripePaymentMethod).values(organization_id=organization_id, **shown)
    await session.execute(
        upsert.on_conflict_do_update(
            index_elements=[StripePaymentMethod.organization_id],
            set_={**shown, "updated_at": func.now()},
        )
    )


async def saved_card(session: AsyncSession, organization_id: int) -> SavedCard | None:
    row = await session.get(StripePaymentMethod, organization_id)
    if row is None:
        return None
    return SavedCard(row.payment_method_id, row.brand, row.last4, row.exp_month, row.exp_year)
