"""The business figures /metrics reports, read at scrape time with a few aggregate queries."""

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.finance import wallets_under_low_threshold
from db.models import NotificationEvent, OrganizationTokenWallet, TokenPurchase, TokenSubscription
from db.operations_metrics import OperationsMetrics, operations_metrics
from db.purchase_patterns import UNUSUAL_PURCHASE_EVENT


@dataclass(frozen=True)
class PurchaseFigures:
    kind: str
    currency: str
    count: int
    revenue: Decimal


@dataclass(frozen=True)
class MetricsSnapshot:
    wallets: int
    balance_average: Decimal
    balance_minimum: Decimal
    balance_maximum: Decimal
    wallets_under_low_threshold: int
    active_subscriptions: int
    unusual_purchase_alerts: int
    purchases: list[PurchaseFigures] = field(default_factory=list)
    operations: OperationsMetrics = field(default_factory=OperationsMetrics)


async def metrics_snapshot(
    session: AsyncSession, *, default_low_threshold: Decimal
) -> MetricsSnapshot:
    balance = OrganizationTokenWallet.current_balance
    wallets = (
        await session.execute(
            select(
                func.count().label("n"),
                func.coalesce(func.avg(balance), 0).label("average"),
                func.coalesce(func.min(balance), 0).label("minimum"),
                func.coalesce(func.max(balance), 0).label("maximum"),
            ).select_from(OrganizationTokenWallet)
        )
    ).one()
    kind, currency = TokenPurchase.purchase_type, TokenPurchase.currency
    purchases = await session.execute(
        select(
            kind,
            currency,
            func.count().label("n"),
            func.sum(TokenPurchase.total_amount).label("revenue"),
        )
        .where(TokenPurchase.status == "completed")
        .group_by(kind, currency)
        .order_by(kind, currency)
    )
    active = await session.scalar(
        select(func.count())
        .select_from(TokenSubscription)
        .where(TokenSubscription.status == "active")
    )
    alerts = await session.scalar(
        select(func.count())
        .select_from(NotificationEvent)
        .where(NotificationEvent.event_type == UNUSUAL_PURCHASE_EVENT)
    )
    return MetricsSnapshot(
        wallets=int(wallets.n),
        balance_average=wallets.average,
        balance_minimum=wallets.minimum,
        balance_maximum=wallets.maximum,
        wallets_under_low_threshold=await wallets_under_low_threshold(
            session, default_low_threshold
        ),
        active_subscriptions=int(active or 0),
        unusual_purchase_alerts=int(alerts or 0),
        purchases=[
            PurchaseFigures(r.purchase_type, r.currency, int(r.n), r.revenue) for r in purchases
        ],
        operations=await operations_metrics(session),
    )
