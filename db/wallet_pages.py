"""Paging through wallets by id: the scheduled jobs read the wallets a batch at a time."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class WalletRow:
    id: int
    organization_id: int
    current_balance: Decimal
    created_at: datetime


async def wallet_page(session: AsyncSession, *, after_id: int, limit: int) -> list[WalletRow]:
    """Up to `limit` wallets with an id above `after_id`, in id order."""
    rows = await session.execute(
        text(
            "SELECT id, organization_id, current_balance, created_at "
            "FROM organization_token_wallets WHERE id > :after ORDER BY id LIMIT :limit"
        ),
        {"after": after_id, "limit": limit},
    )
    return [WalletRow(r.id, r.organization_id, r.current_balance, r.created_at) for r in rows]
