"""The wallet widget's figures in one read: the balance and its alert state, the tokens that
expire soon, the forecast's days to depletion and suggested package, and the last movements."""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from psycopg import AsyncConnection

from db.spend_pool import SpendPool
from db.widget_read import MovementColumns, WidgetRead, widget_read
from services.errors import ErrorKind, organization_not_found
from services.read_pool import on_read_pool
from services.wallet.balances import WalletView, wallet_view
from services.wallet.outlook import Expirations, expirations_from, notice_span
from tokenbill.settings import Settings

LAST_MOVEMENTS = 5


class BalanceState(Enum):
    OK = "ok"
    LOW = "low"
    CRITICAL = "critical"


@dataclass(frozen=True)
class SuggestedPackage:
    name: str
    token_quantity: Decimal
    price_per_token: Decimal
    currency: str


@dataclass(frozen=True)
class Outlook:
    """What the latest forecast says; absent until the daily forecast job has run."""

    forecast_date: date
    average_daily_consumption: Decimal
    days_remaining: int | None
    projected_depletion_date: date | None
    suggested_package: SuggestedPackage | None
    suggested_topup_amount: Decimal | None


@dataclass(frozen=True)
class WalletWidget:
    organization_name: str
    wallet: WalletView
    state: BalanceState
    expiring: Expirations
    outlook: Outlook | None
    last_movements: list[MovementColumns]


def balance_state(wallet: WalletView) -> BalanceState:
    """Critical at or under the critical threshold, low at or under the low one."""
    if wallet.spendable_balance <= wallet.thresholds.critical:
        return BalanceState.CRITICAL
    if wallet.spendable_balance <= wallet.thresholds.low:
        return BalanceState.LOW
    return BalanceState.OK


def _outlook(read: WidgetRead) -> Outlook | None:
    """What the latest forecast says, with its suggested package."""
    latest, package = read.forecast, read.package
    if latest is None:
        return None
    return Outlook(
        forecast_date=latest.forecast_date,
        average_daily_consumption=latest.average_daily_consumption,
        days_remaining=latest.days_remaining,
        projected_depletion_date=latest.projected_depletion_date,
        suggested_package=None
        if package is None
        else SuggestedPackage(
            package.name, package.token_quantity, package.price_per_token, package.currency
        ),
        suggested_topup_amount=latest.suggested_topup_amount,
    )


async def wallet_widget(pool: SpendPool, settings: Settings, organization_id: int) -> WalletWidget:
    """The widget's figures for the organization (NOT_FOUND when it does not exist), in one
    prepared statement on the read pool: nothing is cached, every page shows the wallet as the
    database has it now. Lots are read only while tokens expire."""
    now = datetime.now(UTC)
    until = now + notice_span(settings)
    lots_until = until if settings.token_expiration_enabled else None

    async def work(conn: AsyncConnection[Any]) -> WidgetRead | None:
        return await widget_read(
            conn, organization_id, movements=LAST_MOVEMENTS, lots_until=lots_until
        )

    read = await on_read_pool(pool, work)
    if read is None:
        raise organization_not_found(organization_id, ErrorKind.NOT_FOUND)
    wallet = wallet_view(settings, organization_id, read.found)
    return WalletWidget(
        organization_name=read.organization_name,
        wallet=wallet,
        state=balance_state(wallet),
        last_movements=read.movements,
        expiring=expirations_from(
            settings, organization_id, wallet.wallet_id, now, until, read.lots
        ),
        outlook=_outlook(read),
    )
