"""Subscriptions whose next charge falls within the reminder lead."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import TokenSubscription


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
    subscription = TokenSubscription
    rows = await session.execute(
        select(
            subscription.id,
            subscription.organization_id,
            subscription.wallet_id,
            subscription.next_billing_date,
            func.coalesce(subscription.next_package_id, subscription.package_id),
        )
        .where(
            subscription.wallet_id.in_(wallet_ids),
            subscription.status == "active",
            ~subscription.cancel_at_period_end,
            subscription.next_billing_date > after,
            subscription.next_billing_date <= until,
        )
        .order_by(subscription.id)
    )
    # next_billing_date is never NULL here (the filter compares it); the check tells mypy.
    return [
        DueRenewal(id_, organization, wallet, due, package)
        for id_, organization, wallet, due, package in rows
        if due is not None
    ]
