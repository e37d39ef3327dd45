"""Finance figures read from the books: revenue by day, package and kind, and the summary.

Money is grouped by currency and summed exactly in NUMERIC; days are UTC calendar days.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.durations import InvalidInterval, interval_in_months, parse_interval

CENT = Decimal("0.01")
PURCHASE_KINDS = ("one_time", "subscription", "auto_topup")


def utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class RevenueRow:
    """Completed purchases of one group: how many, gross revenue (total) and net (subtotal)."""

    key: str
    label: str | None
    currency: str
    purchases: int
    tokens: Decimal
    revenue: Decimal
    net_revenue: Decimal


@dataclass(frozen=True)
class Revenue:
    since: date
    until: date
    by_day: list[RevenueRow]
    by_package: list[RevenueRow]
    by_kind: list[RevenueRow]
    totals: list[RevenueRow]


_COMPLETED_IN_WINDOW = (
    "FROM token_purchases p LEFT JOIN token_packages k ON k.id = p.package_id "
    "WHERE p.status = 'completed' AND p.created_at >= :start AND p.created_at < :end"
)
_FIGURES = (
    "count(*) AS purchases, sum(p.token_quantity) AS tokens, sum(p.total_amount) AS revenue, "
    "sum(p.subtotal_amount) AS net_revenue"
)


async def revenue(session: AsyncSession, *, days: int, today: date) -> Revenue:
    """Completed purchases created in the last `days` days (today and the days before it)."""
    since = today - timedelta(days=days - 1)
    params = {"start": utc_midnight(since), "end": utc_midnight(today + timedelta(days=1))}

    async def grouped(key_sql: str, label_sql: str, order: str) -> list[RevenueRow]:
        rows = await session.execute(
            text(
                f"SELECT {key_sql} AS key, {label_sql} AS label, p.currency, {_FIGURES} "
                f"{_COMPLETED_IN_WINDOW} GROUP BY 1, 2, p.currency ORDER BY {order}, p.currency"
            ),
            params,
        )
        return [
            RevenueRow(str(r.key), r.label, r.currency, int(r.purchases), r.tokens, r.revenue,
                       r.net_revenue)
            for r in rows
        ]  # fmt: skip

    return Revenue(
        since=since,
        until=today,
        by_day=await grouped(
            "to_char(p.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')", "NULL", "1 DESC"
        ),
        by_package=await grouped("coalesce(p.package_id::text, 'none')", "k.name", "1"),
        by_kind=await grouped("p.purchase_type", "NULL", "1"),
        totals=await grouped("'all'", "NULL", "1"),
    )


@dataclass(frozen=True)
class CurrencyAmount:
    currency: str
    amount: Decimal
    count: int


@dataclass(frozen=True)
class UnspentTokens:
    """Paid tokens not yet spent or expired, valued at the price they were bought for."""

    currency: str | None
    tokens: Decimal
    value: Decimal | None


@dataclass(frozen=True)
class FinanceSummary:
    active_subscriptions: int
    monthly_recurring_revenue: list[CurrencyAmount]
    past_due: list[CurrencyAmount]
    unspent_paid_tokens: list[UnspentTokens]
    wallets_under_low_threshold: int
    default_low_threshold: Decimal


async def monthly_recurring_revenue(session: AsyncSession) -> tuple[int, list[CurrencyAmount]]:
    """Active subscriptions, and each one's package price per cycle normalised to a month."""
    rows = await session.execute(
        text(
            "SELECT s.billing_interval, k.currency, k.token_quantity * k.price_per_token AS price "
            "FROM token_subscriptions s JOIN token_packages k ON k.id = s.package_id "
            "WHERE s.status = 'active'"
        )
    )
    totals: dict[str, Decimal] = defaultdict(Decimal)
    counts: dict[str, int] = defaultdict(int)
    active = 0
    for interval, currency, price in rows:
        active += 1
        try:
            months = interval_in_months(parse_interval(interval))
        except InvalidInterval:
            continue
        totals[currency] += price / months
        counts[currency] += 1
    mrr = [CurrencyAmount(c, cents(totals[c]), counts[c]) for c in sorted(totals)]
    return active, mrr


async def past_due(session: AsyncSession) -> list[CurrencyAmount]:
    """Open invoices of subscriptions that are past due."""
    rows = await session.execute(
        text(
            "SELECT i.currency, sum(i.total) AS amount, count(*) AS n FROM invoices i "
            "JOIN token_subscriptions s ON s.id = i.subscription_id "
            "WHERE i.status = 'open' AND s.status = 'past_due' GROUP BY i.currency ORDER BY 1"
        )
    )
    return [CurrencyAmount(r.currency, r.amount, int(r.n)) for r in rows]


async def unspent_paid_tokens(session: AsyncSession) -> list[UnspentTokens]:
    """Remaining tokens of purchased lots; a lot whose purchase row is missing has no value."""
    rows = await session.execute(
        text(
            "SELECT p.currency, sum(l.remaining_amount) AS tokens, "
            "sum(l.remaining_amount * p.price_per_token) AS value "
            "FROM token_lots l JOIN ledger_transactions t ON t.id = l.transaction_id "
            "LEFT JOIN token_purchases p ON p.purchase_reference_id = t.reference "
            "WHERE t.kind = 'purchase' AND l.remaining_amount > 0 "
            "GROUP BY p.currency ORDER BY p.currency NULLS LAST"
        )
    )
    return [
        UnspentTokens(r.currency, r.tokens, None if r.value is None else cents(r.value))
        for r in rows
    ]


async def wallets_under_low_threshold(session: AsyncSession, default: Decimal) -> int:
    """The seed's low-balance count, with each wallet's own threshold where it has one."""
    found = await session.scalar(
        text(
            "SELECT count(*) FROM organization_token_wallets "
            "WHERE current_balance < coalesce(low_balance_threshold, :default)"
        ),
        {"default": default},
    )
    return int(found or 0)


async def finance_summary(
    session: AsyncSession, *, default_low_threshold: Decimal
) -> FinanceSummary:
    active, mrr = await monthly_recurring_revenue(session)
    return FinanceSummary(
        active_subscriptions=active,
        monthly_recurring_revenue=mrr,
        past_due=await past_due(session),
        unspent_paid_tokens=await unspent_paid_tokens(session),
        wallets_under_low_threshold=await wallets_under_low_threshold(
            session, default_low_threshold
        ),
        default_low_threshold=default_low_threshold,
    )
