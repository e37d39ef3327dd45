"""Reading an organization's wallet: its balances and thresholds, its balance history, and its
balance and consumption per day."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import TokenBalanceHistory
from db.point_reads import WalletRead, wallet_read
from db.spend_pool import SpendPool
from db.wallets import (
    HistoryFilter,
    OrganizationWallet,
    balance_before,
    balance_history,
    closing_balances,
    consumed_per_day,
    organization_wallet,
)
from services.errors import ErrorKind, invalid, organization_not_found
from services.organizations import existing_organization
from services.read_pool import on_read_pool
from tokenbill.settings import Settings

ZERO = Decimal(0)
MAX_DAYS = 366


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
    held_balance: Decimal
    available_balance: Decimal
    spendable_balance: Decimal
    expired_pending: Decimal
    total_purchased: Decimal
    total_consumed: Decimal
    currency: str
    thresholds: ThresholdLevels
    updated_at: datetime | None


def wallet_view(
    settings: Settings, organization_id: int, found: OrganizationWallet | WalletRead
) -> WalletView:
    """The wallet as shown, from the organization's wallet as read."""
    defaults = ThresholdLevels(
        low=settings.token_low_balance_threshold,
        critical=settings.token_critical_balance_threshold,
    )
    wallet = found.wallet
    if wallet is None:
        return WalletView(
            organization_id=organization_id, wallet_id=None, current_balance=ZERO,
            held_balance=ZERO, available_balance=ZERO, spendable_balance=ZERO,
            expired_pending=ZERO, total_purchased=ZERO,
            total_consumed=ZERO, currency=settings.token_currency,
            thresholds=defaults, updated_at=None,
        )  # fmt: skip
    # Held tokens are out of the balance already; expired tokens a hold still needs can make
    # the difference negative until the hold is settled: nothing is available then.
    available = max(wallet.current_balance - found.expired_pending, ZERO)
    return WalletView(
        organization_id=organization_id,
        wallet_id=wallet.id,
        current_balance=wallet.current_balance,
        held_balance=wallet.held_balance,
        available_balance=available,
        spendable_balance=available,
        expired_pending=found.expired_pending,
        total_purchased=wallet.total_purchased,
        total_consumed=wallet.total_consumed,
        currency=settings.token_currency,
        thresholds=ThresholdLevels(
            low=wallet.low_balance_threshold or defaults.low,
            critical=wallet.critical_balance_threshold or defaults.critical,
        ),
        updated_at=wallet.updated_at,
    )


async def read_wallet(
    session: AsyncSession, settings: Settings, organization_id: int
) -> WalletView:
    """The organization's wallet, in one read (NOT_FOUND when the organization does not exist)."""
    found = await organization_wallet(session, organization_id)
    if found is None:
        raise organization_not_found(organization_id, ErrorKind.NOT_FOUND)
    return wallet_view(settings, organization_id, found)


async def read_wallet_now(pool: SpendPool, settings: Settings, organization_id: int) -> WalletView:
    """`read_wallet` as one prepared statement on the read pool (GET wallet)."""
    found = await on_read_pool(pool, lambda conn: wallet_read(conn, organization_id))
    if found is None:
        raise organization_not_found(organization_id, ErrorKind.NOT_FOUND)
    return wallet_view(settings, organization_id, found)


async def list_balance_changes(
    session: AsyncSession, organization_id: int, only: HistoryFilter, *, limit: int, offset: int
) -> tuple[list[TokenBalanceHistory], int]:
    """One page of the organization's balance changes, newest first, and how many match."""
    await existing_organization(session, organization_id)
    return await balance_history(session, organization_id, only, limit=limit, offset=offset)


@dataclass(frozen=True)
class DayBalance:
    """One UTC day: the balance at its end and the tokens consumed during it."""

    day: date
    closing_balance: Decimal
    consumed: Decimal


def start_of(day: date) -> datetime:
    """Midnight UTC at the start of the day."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def check_day_range(first: date, last: date) -> None:
    """A range of UTC days, both included: in order and at most MAX_DAYS long (else INVALID)."""
    if first > last:
        raise invalid(
            "invalid_range", "The range's first day is after its last day.",
            {"from": first.isoformat(), "to": last.isoformat()},
        )  # fmt: skip
    if (last - first).days + 1 > MAX_DAYS:
        raise invalid(
            "invalid_range", f"A range may span at most {MAX_DAYS} days.",
            {"from": first.isoformat(), "to": last.isoformat()},
        )  # fmt: skip


async def balance_per_day(
    session: AsyncSession, organization_id: int, first: date, last: date
) -> list[DayBalance]:
    """Every UTC day from `first` to `last` (both included): the balance at its end (carried over
    from the day before when nothing moved) and the tokens consumed during it."""
    check_day_range(first, last)
    await existing_organization(session, organization_id)
    since, until = start_of(first), start_of(last + timedelta(days=1))
    closing = await closing_balances(session, organization_id, since, until)
    consumed = await consumed_per_day(session, organization_id, since, until)
    balance = await balance_before(session, organization_id, since) or ZERO
    days: list[DayBalance] = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        balance = closing.get(day, balance)
        days.append(DayBalance(day, balance, consumed.get(day, ZERO)))
    return days
