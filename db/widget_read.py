"""The console's wallet widget in one prepared statement on a plain psycopg connection (the read
pool): the organization with its wallet and expired, unbooked tokens (as db/point_reads.py reads
them for GET wallet), the wallet's latest forecast with its suggested package, its last balance
changes and, when asked, its lots that expire soon. The same rows db/wallets.py, db/forecasts.py
and db/expiry.py read through a session, in one round trip and without the ORM: the lists come
back as arrays (psycopg gives Decimal, datetime and str elements, never a float). An
organization has at most one wallet, so its balance changes are its wallet's: naming the wallet
lets the last ones come from idx_balance_history_wallet however long the history."""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection

from db.expiry import UpcomingExpiration
from db.point_reads import WalletColumns, WalletRead

WIDGET_SQL = """
SELECT o.name,
  w.id, w.current_balance, w.total_purchased, w.total_consumed,
  w.low_balance_threshold, w.critical_balance_threshold, w.updated_at, w.held_balance,
  ledger_expired_remainder(o.id, w.id) AS expired,
  f.forecast_date, f.average_daily_consumption, f.days_remaining, f.projected_depletion_date,
  f.suggested_topup_amount,
  p.name, p.token_quantity, p.price_per_token, p.currency,
  m.created_at, m.change_type, m.description, m.change_amount, m.balance_after,
  l.id, l.original_amount, l.remaining_amount, l.expires_at, l.created_at
FROM organizations AS o
LEFT JOIN organization_token_wallets AS w ON w.organization_id = o.id
LEFT JOIN LATERAL (
  SELECT f.forecast_date, f.average_daily_consumption, f.days_remaining,
    f.projected_depletion_date, f.suggested_topup_amount, f.suggested_package_id
  FROM token_usage_forecasts AS f
  WHERE f.organization_id = o.id AND f.wallet_id = w.id
  ORDER BY f.forecast_date DESC, f.id DESC
  LIMIT 1
) AS f ON true
LEFT JOIN token_packages AS p ON p.id = f.suggested_package_id
CROSS JOIN LATERAL (
  SELECT array_agg(h.created_at ORDER BY h.created_at DESC, h.id DESC) AS created_at,
    array_agg(h.change_type ORDER BY h.created_at DESC, h.id DESC) AS change_type,
    array_agg(h.description ORDER BY h.created_at DESC, h.id DESC) AS description,
    array_agg(h.change_amount ORDER BY h.created_at DESC, h.id DESC) AS change_amount,
    array_agg(h.balance_after ORDER BY h.created_at DESC, h.id DESC) AS balance_after
  FROM (
    SELECT h.id, h.created_at, h.change_type, h.description, h.change_amount, h.balance_after
    FROM token_balance_history AS h
    WHERE h.organization_id = o.id AND h.wallet_id = w.id
    ORDER BY h.created_at DESC, h.id DESC
    LIMIT %(movements)s
  ) AS h
) AS m
CROSS JOIN LATERAL (
  SELECT array_agg(l.id ORDER BY l.expires_at, l.created_at, l.id) AS id,
    array_agg(l.original_amount ORDER BY l.expires_at, l.created_at, l.id) AS original_amount,
    array_agg(l.remaining_amount ORDER BY l.expires_at, l.created_at, l.id) AS remaining_amount,
    array_agg(l.expires_at ORDER BY l.expires_at, l.created_at, l.id) AS expires_at,
    array_agg(l.created_at ORDER BY l.expires_at, l.created_at, l.id) AS created_at
  FROM token_lots AS l
  WHERE %(read_lots)s AND l.organization_id = o.id AND l.wallet_id = w.id
    AND l.remaining_amount > 0 AND l.expires_at IS NOT NULL AND l.expires_at <= %(until)s
) AS l
WHERE o.id = %(organization_id)s
"""


@dataclass(frozen=True)
class ForecastColumns:
    forecast_date: date
    average_daily_consumption: Decimal
    days_remaining: int | None
    projected_depletion_date: date | None
    suggested_topup_amount: Decimal | None


@dataclass(frozen=True)
class PackageColumns:
    name: str
    token_quantity: Decimal
    price_per_token: Decimal
    currency: str


@dataclass(frozen=True)
class MovementColumns:
    """One balance change, as the widget lists it."""

    created_at: datetime
    change_type: str
    description: str | None
    change_amount: Decimal
    balance_after: Decimal


@dataclass(frozen=True)
class WidgetRead:
    organization_name: str
    found: WalletRead
    forecast: ForecastColumns | None
    package: PackageColumns | None
    movements: list[MovementColumns]
    lots: list[UpcomingExpiration]


def _columns(*arrays: list[Any] | None) -> list[tuple[Any, ...]]:
    """The arrays of one aggregate, zipped (NULL when nothing matched: no rows)."""
    first = arrays[0]
    return [] if first is None else list(zip(*arrays, strict=True))


async def widget_read(
    conn: AsyncConnection[Any],
    organization_id: int,
    *,
    movements: int,
    lots_until: datetime | None,
) -> WidgetRead | None:
    """The widget's rows for the organization; None when it does not exist. Lots are read only
    with `lots_until` (the wallet's lots with tokens left expiring by then, soonest first)."""
    parameters = {
        "organization_id": organization_id,
        "movements": movements,
        "read_lots": lots_until is not None,
        "until": lots_until,
    }
    cursor = await conn.execute(WIDGET_SQL, parameters, prepare=True)
    row = await cursor.fetchone()
    if row is None:
        return None
    expired = Decimal(0) if row[9] is None else Decimal(row[9])
    wallet = None if row[1] is None else WalletColumns(*row[1:9])
    forecast = None if row[10] is None else ForecastColumns(*row[10:15])
    package = None if row[15] is None else PackageColumns(*row[15:19])
    return WidgetRead(
        organization_name=row[0],
        found=WalletRead(wallet, expired),
        forecast=forecast,
        package=package,
        movements=[MovementColumns(*m) for m in _columns(*row[19:24])],
        lots=[UpcomingExpiration(*lot) for lot in _columns(*row[24:29])],
    )
