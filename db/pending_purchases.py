"""Reading purchases that were accepted but whose workflow may never have started."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

PENDING_PURCHASE_COLUMNS = (
    "p.purchase_reference_id, p.organization_id, p.wallet_id, p.package_id, p.purchase_type, "
    "p.token_quantity, p.price_per_token, p.subtotal_amount, p.tax_rate, p.tax_amount, "
    "p.total_amount, p.currency, p.payment_method, p.purchased_by_user_id AS actor_user_id, "
    "coalesce(k.name, 'Tokens') || ' (' || p.token_quantity || ' tokens)' AS description"
)


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


async def load_pending_purchase(session: AsyncSession, reference: str) -> PendingPurchase | None:
    row = (
        await session.execute(
            text(
                f"SELECT {PENDING_PURCHASE_COLUMNS} FROM token_purchases p "
                "LEFT JOIN token_packages k ON k.id = p.package_id "
                "WHERE p.purchase_reference_id = :ref AND p.status = 'pending'"
            ),
            {"ref": reference},
        )
    ).one_or_none()
    return None if row is None else PendingPurchase(**row._mapping)


async def stalled_pending_purchases(
    session: AsyncSession, *, older_than: timedelta, after_id: int, limit: int
) -> list[tuple[int, PendingPurchase]]:
    """Pending purchases no workflow has picked up for a while, with an id above `after_id`, in id
    order, each with its id (one-time purchases only: subscription and top-up purchases are run
    by their own long-lived workflows)."""
    rows = await session.execute(
        text(
            f"SELECT p.id, {PENDING_PURCHASE_COLUMNS} FROM token_purchases p "
            "LEFT JOIN token_packages k ON k.id = p.package_id "
            "WHERE p.status = 'pending' AND p.purchase_type = 'one_time' "
            "AND p.created_at < now() - :age AND p.id > :after ORDER BY p.id LIMIT :limit"
        ),
        {"age": older_than, "after": after_id, "limit": limit},
    )
    stalled: list[tuple[int, PendingPurchase]] = []
    for row in rows:
        columns = dict(row._mapping)
        purchase_id = columns.pop("id")
        stalled.append((purchase_id, PendingPurchase(**columns)))
    return stalled
