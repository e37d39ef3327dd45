"""Finance figures read from the books: revenue by day, package and kind, and the summary.

Money is grouped by currency and summed exactly in NUMERIC; days are UTC calendar days.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import (
    ColumnExpressionArgument,
    Date,
    Select,
    SQLColumnExpression,
    Text,
    cast,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    Invoice,
    LedgerTransaction,
    OrganizationTokenWallet,
    TokenLot,
    TokenPackage,
    TokenPurchase,
    TokenSubscription,
)
from domain.durations import InvalidInterval, interval_in_months, parse_interval

CENT = Decimal("0.01")


def utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class RevenueRow:
    """Completed purchases of one group: how many, gross revenue (total) and net (subtotal)."""

    currency: str
    purchases: int
    tokens: Decimal
    revenue: Decimal
    net_revenue: Decimal


@dataclass(frozen=True)
class RevenueDay(RevenueRow):
    date: date


@dataclass(frozen=True)
class RevenuePackage(RevenueRow):
    package_id: int | None
    package_name: str | None


@dataclass(frozen=True)
class RevenueKind(RevenueRow):
    kind: str


@dataclass(frozen=True)
class Revenue:
    days: int
    since: date
    until: date
    by_day: list[RevenueDay]
    by_package: list[RevenuePackage]
    by_kind: list[RevenueKind]
    totals: list[RevenueRow]


_FIGURES = (
    TokenPurchase.currency,
    func.count().label("purchases"),
    func.sum(TokenPurchase.token_quantity).label("tokens"),
    func.sum(TokenPurchase.total_amount).label("revenue"),
    func.sum(TokenPurchase.subtotal_amount).label("net_revenue"),
)


async def revenue(session: AsyncSession, *, days: int, today: date) -> Revenue:
    """Completed purchases created in the last `days` days (today and the days before it)."""
    since = today - timedelta(days=days - 1)
    start, end = utc_midnight(since), utc_midnight(today + timedelta(days=1))

    async def grouped(
        keys: Sequence[SQLColumnExpression[Any]], order: ColumnExpressionArgument[Any]
    ) -> list[dict[str, Any]]:
        query: Select[Any] = (
            select(*keys, *_FIGURES)
            .outerjoin(TokenPackage, TokenPackage.id == TokenPurchase.package_id)
            .where(
                TokenPurchase.status == "completed",
                TokenPurchase.created_at >= start,
                TokenPurchase.created_at < end,
            )
            .group_by(*keys, TokenPurchase.currency)
            .order_by(order, TokenPurchase.currency)
        )
        return [row._asdict() for row in await session.execute(query)]

    day = cast(func.timezone("UTC", TokenPurchase.created_at), Date)
    # Packages in the order of their ids as text, purchases without a package ('none') last.
    package_order = func.coalesce(cast(TokenPurchase.package_id, Text), "none")
    by_package = await grouped(
        [TokenPurchase.package_id, TokenPackage.name.label("package_name")], package_order
    )
    kind = TokenPurchase.purchase_type.label("kind")
    return Revenue(
        days=days,
        since=since,
        until=today,
        by_day=[RevenueDay(**r) for r in await grouped([day.label("date")], day.desc())],
        by_package=[RevenuePackage(**r) for r in by_package],
        by_kind=[RevenueKind(**r) for r in await grouped([kind], TokenPurchase.purchase_type)],
        totals=[RevenueRow(**r) for r in await grouped([], TokenPurchase.currency)],
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
        select(
            TokenSubscription.billing_interval,
            TokenPackage.currency,
            TokenPackage.token_quantity * TokenPackage.price_per_token,
        )
        .join(TokenPackage, TokenPackage.id == TokenSubscription.package_id)
        .where(TokenSubscription.status == "active")
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
        select(Invoice.currency, func.sum(Invoice.total), func.count())
        .join(TokenSubscription, TokenSubscription.id == Invoice.subscription_id)
        .where(Invoice.status == "open", TokenSubscription.status == "past_due")
        .group_by(Invoice.currency)
        .order_by(Invoice.currency)
    )
    return [CurrencyAmount(currency, amount, count) for currency, amount, count in rows]


async def unspent_paid_tokens(session: AsyncSession) -> list[UnspentTokens]:
    """Remaining tokens of purchased lots; a lot whose purchase row is missing has no value."""
    rows = await session.execute(
        select(
            TokenPurchase.currency,
            func.sum(TokenLot.remaining_amount),
            func.sum(TokenLot.remaining_amount * TokenPurchase.price_per_token),
        )
        .select_from(TokenLot)
        .join(LedgerTransaction, LedgerTransaction.id == TokenLot.transaction_id)
        .outerjoin(
            TokenPurchase, TokenPurchase.purchase_reference_id == LedgerTransaction.reference
        )
        .where(LedgerTransaction.kind == "purchase", TokenLot.remaining_amount > 0)
        .group_by(TokenPurchase.currency)
        .order_by(TokenPurchase.currency.asc().nulls_last())
    )
    return [
        UnspentTokens(currency, tokens, None if value is None else cents(value))
        for currency, tokens, value in rows
    ]


async def wallets_under_low_threshold(session: AsyncSession, default: Decimal) -> int:
    """The seed's low-balance count, with each wallet's own threshold where it has one."""
    wallet = OrganizationTokenWallet
    found = await session.scalar(
        select(func.count()).where(
            wallet.current_balance < func.coalesce(wallet.low_balance_threshold, default)
        )
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
