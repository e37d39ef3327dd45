"""An organization's wallet and its balance history, read."""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, Select, func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from db.forecasts import utc_day
from db.models import (
    Organization,
    OrganizationTokenWallet,
    TokenBalanceHistory,
)


async def wallet_of(session: AsyncSession, organization_id: int) -> OrganizationTokenWallet | None:
    """The organization's wallet, or None before it has one."""
    return await session.scalar(
        select(OrganizationTokenWallet).where(
            OrganizationTokenWallet.organization_id == organization_id
        )
    )


@dataclass(frozen=True)
class OrganizationWallet:
    """An organization, its wallet (None before it has one) and the tokens of its lots past
    their expiry that the sweep has not booked yet: part of the cached balance, but no spend can
    take them."""

    organization: Organization
    wallet: OrganizationTokenWallet | None
    expired_pending: Decimal


def _organization_wallet() -> Select[tuple[Organization, OrganizationTokenWallet, Decimal]]:
    wallet = OrganizationTokenWallet
    return select(
        Organization,
        wallet,
        func.ledger_expired_remainder(Organization.id, wallet.id).label("expired"),
    ).outerjoin(wallet, wallet.organization_id == Organization.id)


def _found(row: Row[Any]) -> OrganizationWallet:
    expired = Decimal(0) if row.expired is None else Decimal(row.expired)
    return OrganizationWallet(row.Organization, row.OrganizationTokenWallet, expired)


async def organization_wallet(
    session: AsyncSession, organization_id: int
) -> OrganizationWallet | None:
    """The organization with its wallet in one read; None when the organization does not exist."""
    row = (
        await session.execute(_organization_wallet().where(Organization.id == organization_id))
    ).one_or_none()
    return None if row is None else _found(row)


@dataclass(frozen=True)
class HistoryFilter:
    change_type: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


def _history(organization_id: int, only: HistoryFilter) -> Select[TokenBalanceHistory]:
    query = select(TokenBalanceHistory).where(
        TokenBalanceHistory.organization_id == organization_id
    )
    if only.change_type is not None:
        query = query.where(TokenBalanceHistory.change_type == only.change_type)
    if only.created_from is not None:
        query = query.where(TokenBalanceHistory.created_at >= only.created_from)
    if only.created_to is not None:
        query = query.where(TokenBalanceHistory.created_at < only.created_to)
    return query


def _newest_first(
    query: Select[TokenBalanceHistory], limit: int, offset: int
) -> Select[TokenBalanceHistory]:
    return (
        query.order_by(TokenBalanceHistory.created_at.desc(), TokenBalanceHistory.id.desc())
        .limit(limit)
        .offset(offset)
    )


async def balance_history(
    session: AsyncSession, organization_id: int, only: HistoryFilter, *, limit: int, offset: int
) -> tuple[list[TokenBalanceHistory], int]:
    """One page of the organization's balance changes, newest first, and how many match."""
    query = _history(organization_id, only)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(_newest_first(query, limit, offset))
    return list(rows), int(total or 0)


async def balance_before(
    session: AsyncSession, organization_id: int, moment: datetime
) -> Decimal | None:
    """The balance after the organization's last change before `moment`; None before any."""
    return await session.scalar(
        select(TokenBalanceHistory.balance_after)
        .where(
            TokenBalanceHistory.organization_id == organization_id,
            TokenBalanceHistory.created_at < moment,
        )
        .order_by(TokenBalanceHistory.created_at.desc(), TokenBalanceHistory.id.desc())
        .limit(1)
    )


async def closing_balances(
    session: AsyncSession, organization_id: int, since: datetime, until: datetime
) -> dict[date, Decimal]:
    """The balance after each UTC day's last change, for the days with changes in [since, until)."""
    history = TokenBalanceHistory
    day = utc_day(history.created_at)
    rows = await session.execute(
        select(day.label("day"), history.balance_after)
        .where(
            history.organization_id == organization_id,
            history.created_at >= since,
            history.created_at < until,
        )
        .ext(distinct_on(day))
        .order_by(day, history.created_at.desc(), history.id.desc())
    )
    return {row.day: row.balance_after for row in rows}


async def consumed_per_day(
    session: AsyncSession, organization_id: int, since: datetime, until: datetime
) -> dict[date, Decimal]:
    """Tokens consumed (spends and hold captures, as positive amounts) per UTC day in
    [since, until)."""
    history = TokenBalanceHistory
    day = utc_day(history.created_at).label("day")
    rows = await session.execute(
        select(day, func.sum(-history.change_amount).label("used"))
        .where(
            history.organization_id == organization_id,
            history.change_type.in_(("consumption", "hold_capture")),
            history.created_at >= since,
            history.created_at < until,
        )
        .group_by(day)
    )
    return {row.day: row.used for row in rows}
