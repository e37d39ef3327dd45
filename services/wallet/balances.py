"""Reading an organization's wallet: its balances and thresholds, and its balance history."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from db.expiry import expired_pending
from db.models import TokenBalanceHistory
from db.wallets import HistoryFilter, balance_history, wallet_of
from services.organizations import existing_organization
from tokenbill.settings import Settings

ZERO = Decimal(0)


@dataclass(frozen=True)
class ThresholdLevels:
    low: Decimal
    critical: Decimal


@dataclass(frozen=True)
class WalletView:
    """The wallet as shown; an organization without a wallet yet shows zeros and the defaults."""

    organization_id: int
    wallet_id: int | None
    current_balance: Decimal
    spendable_balance: Decimal
    expired_pending: Decimal
    total_purchased: Decimal
    total_consumed: Decimal
    currency: str
    thresholds: ThresholdLevels
    updated_at: datetime | None


async def read_wallet(
    session: AsyncSession, settings: Settings, organization_id: int
) -> WalletView:
    await existing_organization(session, organization_id)
    wallet = await wallet_of(session, organization_id)
    defaults = ThresholdLevels(
        low=settings.token_low_balance_threshold,
        critical=settings.token_critical_balance_threshold,
    )
    if wallet is None:
        return WalletView(
            organization_id=organization_id, wallet_id=None, current_balance=ZERO,
            spendable_balance=ZERO, expired_pending=ZERO, total_purchased=ZERO,
            total_consumed=ZERO, currency=settings.token_currency,
            thresholds=defaults, updated_at=None,
        )  # fmt: skip
    expired = await expired_pending(session, wallet.id)
    return WalletView(
        organization_id=organization_id,
        wallet_id=wallet.id,
        current_balance=wallet.current_balance,
        spendable_balance=wallet.current_balance - expired,
        expired_pending=expired,
        total_purchased=wallet.total_purchased,
        total_consumed=wallet.total_consumed,
        currency=settings.token_currency,
        thresholds=ThresholdLevels(
            low=wallet.low_balance_threshold or defaults.low,
            critical=wallet.critical_balance_threshold or defaults.critical,
        ),
        updated_at=wallet.updated_at,
    )


async def list_balance_changes(
    session: AsyncSession, organization_id: int, only: HistoryFilter, *, limit: int, offset: int
) -> tuple[list[TokenBalanceHistory], int]:
    """One page of the organization's balance changes, newest first, and how many match."""
    await existing_organization(session, organization_id)
    return await balance_history(session, organization_id, only, limit=limit, offset=offset)
