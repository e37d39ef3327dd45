"""Unusual purchase patterns (the seed's alert list): an organization buying far above its own
history in a day raises one notification for the admins per organization, currency and day."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from db.notifications import record_event
from tokenbill.settings import Settings

UNUSUAL_PURCHASE_EVENT = "purchase.unusual"


@dataclass(frozen=True)
class PurchasePatternRule:
    """Today's completed total is unusual above max(factor x trailing daily average, floor)."""

    factor: Decimal
    floor: Decimal
    history_days: int


@dataclass(frozen=True)
class UnusualPurchases:
    organization_id: int
    currency: str
    day: date
    day_total: Decimal
    daily_average: Decimal
    limit: Decimal
    event_id: int | None
    """The outbox event's id; None when this day's alert had already been raised."""


async def check_purchase_pattern(
    session: AsyncSession, *, organization_id: int, day: date, rule: PurchasePatternRule
) -> list[UnusualPurchases]:
    """Compare the day's completed purchases with the trailing days; alert on each excess."""
    day_start = datetime.combine(day, time.min, tzinfo=UTC)
    rows = await session.execute(
        text(
            "SELECT currency, "
            "coalesce(sum(total_amount) FILTER (WHERE created_at >= :day_start), 0) AS today, "
            "coalesce(sum(total_amount) FILTER (WHERE created_at < :day_start), 0) AS history "
            "FROM token_purchases WHERE organization_id = :org AND status = 'completed' "
            "AND created_at >= :history_start AND created_at < :day_end GROUP BY currency"
        ),
        {
            "org": organization_id,
            "day_start": day_start,
            "day_end": day_start + timedelta(days=1),
            "history_start": day_start - timedelta(days=rule.history_days),
        },
    )
    found: list[UnusualPurchases] = []
    for currency, today, history in rows:
        average = history / rule.history_days
        limit = max(rule.factor * average, rule.floor)
        if today <= limit:
            continue
        payload = {
            "audience": "admins",
            "organization_id": organization_id,
            "currency": currency,
            "day": day.isoformat(),
            "day_total": str(today),
            "daily_average": str(average.quantize(Decimal("0.01"))),
            "limit": str(limit.quantize(Decimal("0.01"))),
        }
        event_id = await record_event(
            session,
            idempotency_key=f"{UNUSUAL_PURCHASE_EVENT}:{organization_id}:{currency}:{day}",
            event_type=UNUSUAL_PURCHASE_EVENT,
            payload=payload,
            organization_id=organization_id,
            severity="warning",
        )
        found.append(
            UnusualPurchases(organization_id, currency, day, today, average, limit, event_id)
        )
    return found


def rule_from_settings(settings: Settings) -> PurchasePatternRule:
    return PurchasePatternRule(
        factor=settings.unusual_purchase_factor,
        floor=settings.unusual_purchase_floor,
        history_days=settings.unusual_purchase_history_days,
    )
