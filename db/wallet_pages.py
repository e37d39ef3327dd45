"""Paging through wallets by id: the scheduled jobs read the wallets a batch at a time."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import OrganizationTokenWallet


@dataclass(frozen=True)
class WalletRow:
    id: int
    organization_id: int
    current_balance: Decimal
    created_at: datetime


async def wallet_page(session: AsyncSession, *, after_id: int, limit: int) -> list[WalletRow]:
    """Up to `limit` wallets with an id above `after_id`, in id order."""
    wallet = OrganizationTokenWallet
    rows = await session.execute(
        select(wallet.id, wallet.organization_id, wallet.current_balance, wallet.created_at)
        .where(wallet.id > after_id)
        .order_by(wallet.id)
        .limit(limit)
    )
    return [WalletRow(r.id, r.organization_id, r.current_balance, r.created_at) for r in rows]
