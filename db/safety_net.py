"""The safety-net jobs' reads and writes: wallets missing a low-balance notification, the outbox
events waiting for the relay, and wallets under their auto top-up threshold with none in flight."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_, exists, func, insert, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    AutoTopupPolicy,
    LowBalanceNotification,
    NotificationEvent,
    OrganizationTokenWallet,
    TokenBalanceHistory,
    TokenPurchase,
)


@dataclass(frozen=True)
class MissedCrossing:
    """A wallet under a threshold whose latest downward crossing of it has no notification."""

    wallet_id: int
    organization_id: int
    balance: Decimal
    threshold: Decimal
    transaction_id: int
    crossed_at: datetime


async def missed_crossings(
    session: AsyncSession, level: str, default: Decimal, *, after: int, last: int
) -> list[MissedCrossing]:
    """The page's (ids in (after, last]) active wallets under their `level` threshold (their own,
    else `default`) whose latest downward crossing of it (a balance change from at or above to
    below) has no notification of that level recorded since."""
    wallet = OrganizationTokenWallet
    change = TokenBalanceHistory
    notice = LowBalanceNotification
    own = wallet.low_balance_threshold if level == "low" else wallet.critical_balance_threshold
    threshold = (
        select(func.coalesce(own, default).label("threshold")).correlate(wallet).lateral("x")
    )
    crossing = (
        select(change.transaction_id, change.created_at)
        .where(
            change.wallet_id == wallet.id,
            change.balance_before >= threshold.c.threshold,
            change.balance_after < threshold.c.threshold,
        )
        .order_by(change.created_at.desc(), change.id.desc())
        .limit(1)
        .correlate(wallet, threshold)
        .lateral("c")
    )
    notified = exists().where(
        notice.wallet_id == wallet.id,
        notice.level == level,
        notice.created_at >= crossing.c.created_at,
    )
    rows = await session.execute(
        select(
            wallet.id, wallet.organization_id, wallet.current_balance, threshold.c.threshold,
            crossing.c.transaction_id, crossing.c.created_at,
        )
        .select_from(wallet)
        .join(threshold, true())
        .join(crossing, true())
        .where(
            wallet.id > after, wallet.id <= last, wallet.is_active,
            wallet.current_balance < threshold.c.threshold, ~notified,
        )
    )  # fmt: skip
    return [MissedCrossing(*row) for row in rows]


async def record_low_balance_notification(
    session: AsyncSession, crossing: MissedCrossing, level: str
) -> int:
    """Insert the crossing's notification of `level`; returns its id."""
    inserted = await session.execute(
        insert(LowBalanceNotification)
        .values(
            wallet_id=crossing.wallet_id, organization_id=crossing.organization_id, level=level,
            threshold=crossing.threshold, balance=crossing.balance,
        )
        .returning(LowBalanceNotification.id)
    )  # fmt: skip
    notification_id: int = inserted.scalar_one()
    return notification_id


async def events_waiting(session: AsyncSession, stale_after: timedelta) -> int:
    """Outbox events pending, or dispatched longer than `stale_after` ago and not delivered."""
    event = NotificationEvent
    waiting = await session.scalar(
        select(func.count())
        .select_from(event)
        .where(
            or_(
                event.status == "pending",
                and_(event.status == "dispatched", event.dispatched_at < func.now() - stale_after),
            )
        )
    )
    return int(waiting or 0)


async def wallets_due_topup(session: AsyncSession, *, after: int, last: int) -> set[int]:
    """The page's wallets under their enabled, active auto top-up policy's threshold with no
    auto top-up purchase in flight."""
    wallet = OrganizationTokenWallet
    policy = AutoTopupPolicy
    purchase = TokenPurchase
    in_flight = exists().where(
        purchase.wallet_id == wallet.id,
        purchase.purchase_type == "auto_topup",
        purchase.status.in_(("pending", "processing")),
    )
    rows = await session.scalars(
        select(wallet.id)
        .join(policy, policy.wallet_id == wallet.id)
        .where(
            wallet.id > after, wallet.id <= last, policy.enabled, policy.status == "active",
            policy.threshold.is_not(None), wallet.current_balance < policy.threshold, ~in_flight,
        )
    )  # fmt: skip
    return set(rows)
