"""Reads of one row by its key on a plain psycopg connection (autocommit, prepared statements):
the wallet of an organization and a purchase by its reference, as GET wallet and GET purchase
answer them. One statement, one round trip, no ORM; the same columns as db/wallets.py and
db/purchases.py read through a session."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import namedtuple_row

WALLET_SQL = (
    "SELECT w.id, w.current_balance, w.total_purchased, w.total_consumed, "
    "w.low_balance_threshold, w.critical_balance_threshold, w.updated_at, w.held_balance, "
    "ledger_expired_remainder(o.id, w.id) AS expired "
    "FROM organizations AS o "
    "LEFT JOIN organization_token_wallets AS w ON w.organization_id = o.id "
    "WHERE o.id = %s"
)
PURCHASE_SQL = (
    "SELECT p.*, i.invoice_number FROM token_purchases AS p "
    "LEFT JOIN invoices AS i ON i.organization_id = p.organization_id AND i.id = p.invoice_id "
    "WHERE p.purchase_reference_id = %s"
)


@dataclass(frozen=True)
class WalletColumns:
    id: int
    current_balance: Decimal
    total_purchased: Decimal
    total_consumed: Decimal
    low_balance_threshold: Decimal | None
    critical_balance_threshold: Decimal | None
    updated_at: datetime
    held_balance: Decimal


@dataclass(frozen=True)
class WalletRead:
    """An organization's wallet (None before it has one) and its expired, unbooked tokens."""

    wallet: WalletColumns | None
    expired_pending: Decimal


async def wallet_read(conn: AsyncConnection[Any], organization_id: int) -> WalletRead | None:
    """The organization's wallet; None when the organization does not exist."""
    cursor = await conn.execute(WALLET_SQL, (organization_id,), prepare=True)
    row = await cursor.fetchone()
    if row is None:
        return None
    expired = Decimal(0) if row[8] is None else Decimal(row[8])
    if row[0] is None:
        return WalletRead(None, expired)
    return WalletRead(WalletColumns(*row[:8]), expired)


async def purchase_read(conn: AsyncConnection[Any], reference: str) -> Any | None:
    """The purchase's columns by name (attributes), with its invoice's `invoice_number`."""
    cursor = conn.cursor(row_factory=namedtuple_row)
    await cursor.execute(PURCHASE_SQL, (reference,), prepare=True)
    return await cursor.fetchone()
