"""Reading consumption history for usage forecasts, and storing one forecast per wallet per day."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal

from sqlalchemy import ColumnElement, Date, SQLColumnExpression, cast, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import LedgerTransaction, OrganizationTokenWallet, TokenPackage, TokenUsageForecast


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def utc_day(moment: SQLColumnExpression[datetime]) -> ColumnElement[date]:
    """The UTC calendar day of a timestamptz: (moment AT TIME ZONE 'UTC')::date."""
    return cast(func.timezone("UTC", moment), Date)


async def daily_consumption(
    session: AsyncSession, wallet_ids: Sequence[int], since: date, until: date
) -> dict[int, dict[date, Decimal]]:
    """Tokens consumed per wallet per UTC day, for the days from `since` up to (not) `until`."""
    spend = LedgerTransaction
    spends = (
        select(spend.wallet_id, utc_day(spend.created_at).label("day"), spend.amount)
        .where(
            spend.kind == "consumption",
            spend.wallet_id.in_(wallet_ids),
            spend.created_at >= _start_of(since),
            spend.created_at < _start_of(until),
        )
        .subquery("spends")
    )
    rows = await session.execute(
        select(spends.c.wallet_id, spends.c.day, func.sum(spends.c.amount).label("used")).group_by(
            spends.c.wallet_id, spends.c.day
        )
    )
    found: dict[int, dict[date, Decimal]] = defaultdict(dict)
    for row in rows:
        found[row.wallet_id][row.day] = row.used
    return found


async def history_starts(session: AsyncSession, wallet_ids: Sequence[int]) -> dict[int, date]:
    """The UTC day each wallet's history begins: its creation or its first movement."""
    wallet = OrganizationTokenWallet
    first_movement = (
        select(func.min(LedgerTransaction.created_at))
        .where(LedgerTransaction.wallet_id == wallet.id)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(
            wallet.id, utc_day(func.least(wallet.created_at, first_movement)).label("day")
        ).where(wallet.id.in_(wallet_ids))
    )
    return {row.id: row.day for row in rows}


async def active_package_sizes(session: AsyncSession) -> list[tuple[int, Decimal]]:
    rows = await session.execute(
        select(TokenPackage.id, TokenPackage.token_quantity)
        .where(TokenPackage.is_active)
        .order_by(TokenPackage.id)
    )
    return [(row.id, row.token_quantity) for row in rows]


@dataclass(frozen=True)
class ForecastRecord:
    wallet_id: int
    organization_id: int
    forecast_date: date
    current_balance: Decimal
    history_days: int
    method: str
    average_daily_consumption: Decimal
    trend_per_day: Decimal
    weekday_factors: dict[str, str] | None
    coverage_days: int
    projected_consumption: Decimal
    projected_depletion_date: date | None
    days_remaining: int | None
    suggested_package_id: int | None
    suggested_topup_amount: Decimal | None
    confidence: Decimal


async def save_forecast(session: AsyncSession, record: ForecastRecord) -> None:
    """Insert the wallet's forecast for the day, or replace the one an earlier run made today."""
    values = asdict(record)
    upsert = insert(TokenUsageForecast).values(**values)
    await session.execute(
        upsert.on_conflict_do_update(
            index_elements=[
                TokenUsageForecast.organization_id,
                TokenUsageForecast.wallet_id,
                TokenUsageForecast.forecast_date,
            ],
            set_={
                **{
                    c: upsert.excluded[c] for c in values if c not in ("wallet_id", "forecast_date")
                },
                "created_at": func.now(),
            },
        )
    )


async def latest_forecast(session: AsyncSession, wallet_id: int) -> TokenUsageForecast | None:
    return await session.scalar(
        select(TokenUsageForecast)
        .where(TokenUsageForecast.wallet_id == wallet_id)
        .order_by(TokenUsageForecast.forecast_date.desc(), TokenUsageForecast.id.desc())
        .limit(1)
    )
