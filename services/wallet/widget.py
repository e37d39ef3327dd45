"""The wallet widget's figures in one read: the balance and its alert state, the tokens that
expire soon, the forecast's days to depletion and suggested package, and the last movements."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import TokenBalanceHistory, TokenPackage
from db.wallets import HistoryFilter
from services.errors import ErrorKind, ServiceError
from services.organizations import existing_organization
from services.wallet.balances import WalletView, list_balance_changes, read_wallet
from services.wallet.outlook import Expirations, forecast, upcoming
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


async def _outlook(session: AsyncSession, organization_id: int) -> Outlook | None:
    try:
        latest = await forecast(session, organization_id)
    except ServiceError as error:
        if error.kind is ErrorKind.NOT_FOUND:
            return None
        raise
    package = (
        None
        if latest.suggested_package_id is None
        else await session.get(TokenPackage, latest.suggested_package_id)
    )
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


async def wallet_widget(
    session: AsyncSession, settings: Settings, organization_id: int
) -> WalletWidget:
    """The widget's figures for the organization (NOT_FOUND when it does not exist)."""
    organization = await existing_organization(session, organization_id)
    wallet = await read_wallet(session, settings, organization_id)
    movements, _ = await list_balance_changes(
        session, organization_id, HistoryFilter(None, None, None), limit=LAST_MOVEMENTS, offset=0
    )
    return WalletWidget(
        organization_name=organization.name,
        wallet=wallet,
        state=balance_state(wallet),
        expiring=await upcoming(session, settings, organization_id, None),
        outlook=await _outlook(session, organization_id),
        last_movements=movements,
    )
