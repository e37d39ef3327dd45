"""The wallet widget's figures in one read: the balance and its alert state, the tokens that
expire soon, the forecast's days to depletion and suggested package, and the last movements."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import TokenBalanceHistory, TokenPackage, TokenUsageForecast
from db.wallets import latest_changes, organization_wallet_outlook
from services.errors import ErrorKind, organization_not_found
from services.wallet.balances import WalletView, wallet_view
from services.wallet.outlook import Expirations, expirations_of
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
    last_movements: list[TokenBalanceHistory]


def balance_state(wallet: WalletView) -> BalanceState:
    """Critical at or under the critical threshold, low at or under the low one."""
    if wallet.spendable_balance <= wallet.thresholds.critical:
        return BalanceState.CRITICAL
    if wallet.spendable_balance <= wallet.thresholds.low:
        return BalanceState.LOW
    return BalanceState.OK


def _outlook(latest: TokenUsageForecast | None, package: TokenPackage | None) -> Outlook | None:
    """What the latest forecast says, with its suggested package."""
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


async def _expiring(
    session: AsyncSession, settings: Settings, organization_id: int, wallet_id: int | None
) -> Expirations:
    """With expiry off the widget says that no tokens expire and shows no lot: none is read."""
    enabled = settings.token_expiration_enabled
    return await expirations_of(
        session, settings, organization_id, wallet_id, None, read_lots=enabled
    )


async def wallet_widget(
    session: AsyncSession, settings: Settings, organization_id: int
) -> WalletWidget:
    """The widget's figures for the organization (NOT_FOUND when it does not exist), in three
    reads: the organization with its wallet, its forecast and the forecast's package; the last
    movements; the expiring lots (only when tokens expire)."""
    read = await organization_wallet_outlook(session, organization_id)
    if read is None:
        raise organization_not_found(organization_id, ErrorKind.NOT_FOUND)
    wallet = wallet_view(settings, organization_id, read.found)
    return WalletWidget(
        organization_name=read.found.organization.name,
        wallet=wallet,
        state=balance_state(wallet),
        last_movements=await latest_changes(session, organization_id, LAST_MOVEMENTS),
        expiring=await _expiring(session, settings, organization_id, wallet.wallet_id),
        outlook=_outlook(read.forecast, read.package),
    )
