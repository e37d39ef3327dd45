"""Token expiry: lots past their date lose their unspent remainder (ledger kind expiry, to
system:expiry), one lot at a time, exactly that lot's remainder, once per lot."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from db.errors import LotNotExpired
from db.ledger import Posting
from db.models import OrganizationTokenWallet, TokenLot

LOT_NOT_EXPIRED_SQLSTATE = "TB004"


@dataclass(frozen=True)
class OpenLot:
    """A lot with tokens left and an expiry date."""

    id: int
    wallet_id: int
    organization_id: int
    original_amount: Decimal
    remaining_amount: Decimal
    expires_at: datetime
    credited_at: datetime


def expiry_key(lot_id: int) -> str:
    return f"expiry:lot:{lot_id}"


def expiry_notice_key(lot_id: int) -> str:
    return f"expiry:lot:{lot_id}:notice"


async def open_lots_expiring_before(
    session: AsyncSession, wallet_ids: Sequence[int], until: datetime
) -> list[OpenLot]:
    """The wallets' lots with tokens left that expire at or before `until`, soonest first."""
    lot = TokenLot
    rows = await session.execute(
        select(
            lot.id, lot.wallet_id, OrganizationTokenWallet.organization_id, lot.original_amount,
            lot.remaining_amount, lot.expires_at, lot.created_at,
        )
        .join(OrganizationTokenWallet, OrganizationTokenWallet.id == lot.wallet_id)
        .where(
            lot.wallet_id.in_(wallet_ids), lot.remaining_amount > 0,
            lot.expires_at.is_not(None), lot.expires_at <= until,
        )
        .order_by(lot.expires_at, lot.created_at, lot.id)
    )  # fmt: skip
    return [
        OpenLot(r.id, r.wallet_id, r.organization_id, r.original_amount, r.remaining_amount,
                r.expires_at, r.created_at)
        for r in rows
    ]  # fmt: skip


async def expire_lot(session: AsyncSession, lot_id: int) -> Posting | None:
    """Post the lot's unspent remainder as expired; None when nothing was left to expire.

    A second call for the same lot returns the first posting (replayed) and moves nothing. A lot
    without an expiry, or whose expiry the database clock has not reached, raises LotNotExpired.
    """
    try:
        row = (
            await session.execute(
                # A call of the ledger's function, whose result is a row of named columns.
                text(
                    "SELECT transaction_id, kind, wallet_id, amount, balance_after, created_at, "
                    "replayed FROM ledger_expire_lot(:key, :lot, :description)"
                ),
                {"key": expiry_key(lot_id), "lot": lot_id, "description": f"Lot {lot_id} expired"},
            )
        ).one_or_none()
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == LOT_NOT_EXPIRED_SQLSTATE:
            raise LotNotExpired(lot_id) from exc
        raise
    if row is None:
        return None
    return Posting(
        row.transaction_id,
        row.wallet_id,
        row.kind,
        row.amount,
        row.balance_after,
        row.created_at,
        row.replayed,
    )


@dataclass(frozen=True)
class UpcomingExpiration:
    lot_id: int
    original_amount: Decimal
    remaining_amount: Decimal
    expires_at: datetime
    credited_at: datetime


async def upcoming_expirations(
    session: AsyncSession, wallet_id: int, until: datetime
) -> list[UpcomingExpiration]:
    """The wallet's lots with tokens left expiring by `until` (already past-due ones included,
    until the expiry job takes them), soonest first."""
    lots = await open_lots_expiring_before(session, [wallet_id], until)
    return [
        UpcomingExpiration(
            lot.id, lot.original_amount, lot.remaining_amount, lot.expires_at, lot.credited_at
        )
        for lot in lots
    ]
