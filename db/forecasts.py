"""Reading consumption history for usage forecasts, and storing one forecast per wallet per day."""

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import TokenUsageForecast


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


async def daily_consumption(
    session: AsyncSession, wallet_ids: Sequence[int], since: date, until: date
) -> dict[int, dict[date, Decimal]]:
    """Tokens consumed per wallet per UTC day, for the days from `since` up to (not) `until`."""
    rows = await session.execute(
        text(
            "SELECT wallet_id, (created_at AT TIME ZONE 'UTC')::date AS day, sum(amount) AS used "
            "FROM ledger_transactions WHERE kind = 'consumption' AND wallet_id = ANY(:wallets) "
            "AND created_at >= :since AND created_at < :until GROUP BY 1, 2"
        ),
        {"wallets": list(wallet_ids), "since": _start_of(since), "until": _start_of(until)},
    )
    found: dict[int, dict[date, Decimal]] = defaultdict(dict)
    for row in rows:
        found[row.wallet_id][row.day] = row.used
    return found


async def history_starts(session: AsyncSession, wallet_ids: Sequence[int]) -> dict[int, date]:
    """The UTC day each wallet's history begins: its creation or its first movement."""
    rows = await session.execute(
        text(
            "SELECT w.id, (least(w.created_at, (SELECT min(t.created_at) FROM ledger_transactions t"
            " WHERE t.wallet_id = w.id)) AT TIME ZONE 'UTC')::date AS day "
            "FROM organization_token_wallets w WHERE w.id = ANY(:wallets)"
        ),
        {"wallets": list(wallet_ids)},
    )
    return {row.id: row.day for row in rows}


async def active_package_sizes(session: AsyncSession) -> list[tuple[int, Decimal]]:
    rows = await session.execute(
        text("SELECT id, token_quantity FROM token_packages WHERE is_active ORDER BY id")
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
    params = {**record.__dict__, "weekday_factors": json.dumps(record.weekday_factors)}
    columns = list(params)
    await session.execute(
        text(
            f"INSERT INTO token_usage_forecasts ({', '.join(columns)}) VALUES "
            f"({', '.join(_placeholder(c) for c in columns)}) "
            "ON CONFLICT (wallet_id, forecast_date) DO UPDATE SET "
            + ", ".join(
                f"{c} = EXCLUDED.{c}" for c in columns if c not in ("wallet_id", "forecast_date")
            )
            + ", created_at = now()"
        ),
        params,
    )


def _placeholder(column: str) -> str:
    return "CAST(:weekday_factors AS jsonb)" if column == "weekday_factors" else f":{column}"


async def latest_forecast(session: AsyncSession, wallet_id: int) -> TokenUsageForecast | None:
    return await session.scalar(
        select(TokenUsageForecast)
        .where(TokenUsageForecast.wallet_id == wallet_id)
        .order_by(TokenUsageForecast.forecast_date.desc(), TokenUsageForecast.id.desc())
        .limit(1)
    )
