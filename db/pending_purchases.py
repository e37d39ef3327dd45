"""Reading purchases that were accepted but whose workflow may never have started."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, String, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import TokenPackage, TokenPurchase


@dataclass(frozen=True)
class PendingPurchase:
    """A pending token_purchases row, field for field the purchase workflow's input."""

    purchase_reference_id: str
    organization_id: int
    wallet_id: int
    package_id: int | None
    purchase_type: str
    token_quantity: Decimal
    price_per_token: Decimal
    subtotal_amount: Decimal
    tax_rate: Decimal
    tax_amount: Decimal
    total_amount: Decimal
    currency: str
    payment_method: str
    actor_user_id: int | None
    description: str


def _pending() -> Select[*tuple[Any, ...]]:
    """Pending purchases' columns as PendingPurchase names them, the package's name described."""
    p = TokenPurchase
    description = (
        func.coalesce(TokenPackage.name, "Tokens")
        .concat(" (")
        .concat(cast(p.token_quantity, String))
        .concat(" tokens)")
    )
    return (
        select(
            p.purchase_reference_id, p.organization_id, p.wallet_id, p.package_id,
            p.purchase_type, p.token_quantity, p.price_per_token, p.subtotal_amount, p.tax_rate,
            p.tax_amount, p.total_amount, p.currency, p.payment_method,
            p.purchased_by_user_id.label("actor_user_id"), description.label("description"),
        )
        .outerjoin(TokenPackage, TokenPackage.id == p.package_id)
        .where(p.status == "pending")
    )  # fmt: skip


async def load_pending_purchase(session: AsyncSession, reference: str) -> PendingPurchase | None:
    row = (
        await session.execute(_pending().where(TokenPurchase.purchase_reference_id == reference))
    ).one_or_none()
    return None if row is None else PendingPurchase(**row._mapping)


async def stalled_pending_purchases(
    session: AsyncSession, *, older_than: timedelta, after_id: int, limit: int
) -> list[tuple[int, PendingPurchase]]:
    """Pending purchases no workflow has picked up for a while, with an id above `after_id`, in id
    order, each with its id (one-time purchases only: subscription and top-up purchases are run
    by their own long-lived workflows)."""
    rows = await session.execute(
        _pending()
        .add_columns(TokenPurchase.id)
        .where(
            TokenPurchase.purchase_type == "one_time",
            TokenPurchase.created_at < func.now() - older_than,
            TokenPurchase.id > after_id,
        )
        .order_by(TokenPurchase.id)
        .limit(limit)
    )
    stalled: list[tuple[int, PendingPurchase]] = []
    for row in rows:
        columns = dict(row._mapping)
        purchase_id = columns.pop("id")
        stalled.append((purchase_id, PendingPurchase(**columns)))
    return stalled
