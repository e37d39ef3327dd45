"""An organization's wallet and its balance history, read."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import OrganizationTokenWallet, TokenBalanceHistory


async def wallet_of(session: AsyncSession, organization_id: int) -> OrganizationTokenWallet | None:
    """The organization's wallet, or None before it has one."""
    return await session.scalar(
        select(OrganizationTokenWallet).where(
            OrganizationTokenWallet.organization_id == organization_id
        )
    )


@dataclass(frozen=True)
class HistoryFilter:
    change_type: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


async def balance_history(
    session: AsyncSession, organization_id: int, only: HistoryFilter, *, limit: int, offset: int
) -> tuple[list[TokenBalanceHistory], int]:
    """One page of the organization's balance changes, newest first, and how many match."""
    query = select(TokenBalanceHistory).where(
        TokenBalanceHistory.organization_id == organization_id
    )
    if only.change_type is not None:
        query = query.where(TokenBalanceHistory.change_type == only.change_type)
    if only.created_from is not None:
        query = query.where(TokenBalanceHistory.created_at >= only.created_from)
    if only.created_to is not None:
        query = query.where(TokenBalanceHistory.created_at < only.created_to)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(TokenBalanceHistory.created_at.desc(), TokenBalanceHistory.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total or 0)
