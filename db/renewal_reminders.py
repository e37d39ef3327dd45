"""Subscriptions whose next charge falls within the reminder lead."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class DueRenewal:
    subscription_id: int
    organization_id: int
    wallet_id: int
    next_billing_date: datetime
    package_id: int


async def renewals_due(
    session: AsyncSession, wallet_ids: Sequence[int], after: datetime, until: datetime
) -> list[DueRenewal]:
    """Active subscriptions of these wallets renewing in (after, until], not ending this period."""
    rows = await session.execute(
        text(
            "SELECT id, organization_id, wallet_id, next_billing_date, "
            "coalesce(next_package_id, package_id) AS package_id FROM token_subscriptions "
            "WHERE wallet_id = ANY(:wallets) AND status = 'active' AND NOT cancel_at_period_end "
            "AND next_billing_date > :after AND next_billing_date <= :until ORDER BY id"
        ),
        {"wallets": list(wallet_ids), "after": after, "until": until},
    )
    return [DueRenewal(*row) for row in rows]
