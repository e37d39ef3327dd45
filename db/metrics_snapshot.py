"""The business figures /metrics reports, read at scrape time with a few aggregate queries."""

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from db.finance import wallets_under_low_threshold
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
    wallets = (
        await session.execute(
            text(
                "SELECT count(*) AS n, coalesce(avg(current_balance), 0) AS average, "
                "coalesce(min(current_balance), 0) AS minimum, "
                "coalesce(max(current_balance), 0) AS maximum FROM organization_token_wallets"
            )
        )
    ).one()
    purchases = await session.execute(
        text(
            "SELECT purchase_type, currency, count(*) AS n, sum(total_amount) AS revenue "
            "FROM token_purchases WHERE status = 'completed' GROUP BY 1, 2 ORDER BY 1, 2"
        )
    )
    active = await session.scalar(
        text("SELECT count(*) FROM token_subscriptions WHERE status = 'active'")
    )
    alerts = await session.scalar(
        text("SELECT count(*) FROM notification_events WHERE event_type = :t"),
        {"t": UNUSUAL_PURCHASE_EVENT},
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
