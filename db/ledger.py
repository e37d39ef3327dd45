"""Ledger operations: every movement is one database transaction of balanced entries.

Callers pass an AsyncSession inside an open transaction (`async with session.begin()`); an error
raised here must roll that transaction back, which also releases the claimed idempotency key.
The movement itself is the `ledger_post` database function (migration 0003): one round trip.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from db.errors import IdempotencyKeyReused, InsufficientBalance, InvalidAmount, WalletNotFound

CreditKind = Literal["purchase", "adjustment"]
DebitKind = Literal["consumption", "expiry", "reversal", "adjustment"]
TOKEN_QUANTUM = Decimal("0.0001")
MAX_TOKENS = Decimal("1e15")

SYSTEM_ACCOUNT_BY_KIND: dict[str, str] = {
    "purchase": "system:issuance",
    "consumption": "system:consumption",
    "expiry": "system:expiry",
    "reversal": "system:reversal",
    "adjustment": "system:adjustment",
}


@dataclass(frozen=True)
class Posting:
    """The outcome of a credit or debit, the same on its first run and on every replay."""

    transaction_id: int
    wallet_id: int
    kind: str
    amount: Decimal
    balance_after: Decimal
    created_at: datetime
    replayed: bool


def validate_token_amount(amount: Decimal) -> Decimal:
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise InvalidAmount("token amounts are exact decimals")
    if amount <= 0:
        raise InvalidAmount("token amounts must be greater than zero")
    if amount >= MAX_TOKENS:
        raise InvalidAmount("token amount is larger than any wallet can hold")
    if amount != amount.quantize(TOKEN_QUANTUM):
        raise InvalidAmount("token amounts have at most 4 decimal places")
    return amount


def wallet_account_code(organization_id: int) -> str:
    return f"wallet:org-{organization_id}"


async def ensure_wallet(session: AsyncSession, organization_id: int) -> int:
    """The organization's wallet id, creating the wallet and its ledger account on first need."""
    found = await session.scalar(
        text("SELECT id FROM organization_token_wallets WHERE organization_id = :org"),
        {"org": organization_id},
    )
    if found is not None:
        return int(found)
    await session.execute(
        text(
            "INSERT INTO ledger_accounts (code, kind, description) VALUES (:code, 'wallet', :d) "
            "ON CONFLICT (code) DO NOTHING"
        ),
        {"code": wallet_account_code(organization_id), "d": f"Organization {organization_id}"},
    )
    await session.execute(
        text(
            "INSERT INTO organization_token_wallets (organization_id, ledger_account_id) "
            "SELECT :org, id FROM ledger_accounts WHERE code = :code "
            "ON CONFLICT (organization_id) DO NOTHING"
        ),
        {"org": organization_id, "code": wallet_account_code(organization_id)},
    )
    wallet_id = await session.scalar(
        text("SELECT id FROM organization_token_wallets WHERE organization_id = :org"),
        {"org": organization_id},
    )
    assert wallet_id is not None
    return int(wallet_id)


LEDGER_POST_SQL = (
    "SELECT transaction_id, kind, wallet_id, amount, balance_after, created_at, replayed "
    "FROM ledger_post(:key, :kind, :wallet, :delta, :system, :description, :reference, :expires)"
)
# Named by its organisation, the posting never looks the wallet up across organisations
# (docs/distributed-schema.md).
LEDGER_POST_IN_ORGANIZATION_SQL = (
    "SELECT transaction_id, kind, wallet_id, amount, balance_after, created_at, replayed "
    "FROM ledger_post(:organization, :key, :kind, :wallet, :delta, :system, :description, "
    ":reference, :expires)"
)
INSUFFICIENT_BALANCE_SQLSTATE = "TB001"
WALLET_NOT_FOUND_SQLSTATE = "TB002"


async def credit(
    session: AsyncSession,
    *,
    wallet_id: int,
    amount: Decimal,
    idempotency_key: str,
    kind: CreditKind = "purchase",
    description: str | None = None,
    reference: str | None = None,
    expires_at: datetime | None = None,
    organization_id: int | None = None,
) -> Posting:
    """Add tokens to a wallet as a new lot; a replayed key returns the first posting. With the
    wallet's organisation, the posting stays within it."""
    validate_token_amount(amount)
    return await _post(
        session, idempotency_key, kind, wallet_id, amount, description, reference, expires_at,
        organization_id=organization_id,
    )  # fmt: skip


async def debit(
    session: AsyncSession,
    *,
    wallet_id: int,
    amount: Decimal,
    idempotency_key: str,
    kind: DebitKind = "consumption",
    description: str | None = None,
    reference: str | None = None,
    organization_id: int | None = None,
) -> Posting:
    """Take tokens from a wallet, first-to-expire lots first; never below zero."""
    validate_token_amount(amount)
    return await _post(
        session, idempotency_key, kind, wallet_id, -amount, description, reference,
        organization_id=organization_id,
    )  # fmt: skip


@dataclass(frozen=True)
class CreditedLot:
    """What a credit put in its lot, and what of it is still unspent."""

    original_amount: Decimal
    remaining_amount: Decimal


async def credited_lot(session: AsyncSession, credit_key: str) -> CreditedLot | None:
    """The lot the credit under `credit_key` created; None when nothing was credited."""
    row = (
        await session.execute(
            text(
                "SELECT l.original_amount, l.remaining_amount FROM ledger_transactions c "
                "JOIN token_lots l ON l.transaction_id = c.id WHERE c.idempotency_key = :k"
            ),
            {"k": credit_key},
        )
    ).one_or_none()
    return None if row is None else CreditedLot(row.original_amount, row.remaining_amount)


async def posting_exists(session: AsyncSession, idempotency_key: str) -> bool:
    found = await session.scalar(
        text("SELECT 1 FROM ledger_transactions WHERE idempotency_key = :k"), {"k": idempotency_key}
    )
    return found is not None


async def reverse_credit(
    session: AsyncSession,
    *,
    credit_key: str,
    idempotency_key: str,
    description: str,
    reference: str,
) -> Posting | None:
    """Take back what is left of the lot the credit under `credit_key` created, from that lot
    alone (never another purchase's tokens); None when nothing was credited or nothing is left."""
    row = (
        await session.execute(
            text(
                "SELECT transaction_id, kind, wallet_id, amount, balance_after, created_at, "
                "replayed FROM ledger_reverse_lot(:key, :credit, :description, :reference)"
            ),
            {
                "key": idempotency_key,
                "credit": credit_key,
                "description": description,
                "reference": reference,
            },
        )
    ).one_or_none()
    if row is None:
        return None
    return Posting(
        row.transaction_id, row.wallet_id, row.kind, row.amount, row.balance_after,
        row.created_at, row.replayed,
    )  # fmt: skip


async def _post(
    session: AsyncSession,
    key: str,
    kind: str,
    wallet_id: int,
    delta: Decimal,
    description: str | None,
    reference: str | None,
    expires_at: datetime | None = None,
    *,
    organization_id: int | None = None,
) -> Posting:
    """One call of the ledger_post database function: claim the key, move, write the books."""
    params = {
        "key": key, "kind": kind, "wallet": wallet_id, "delta": delta,
        "system": SYSTEM_ACCOUNT_BY_KIND[kind], "description": description,
        "reference": reference, "expires": expires_at, "organization": organization_id,
    }  # fmt: skip
    sql = LEDGER_POST_SQL if organization_id is None else LEDGER_POST_IN_ORGANIZATION_SQL
    try:
        row = (await session.execute(text(sql), params)).one()
    except DBAPIError as exc:
        raise _ledger_error(exc, wallet_id, abs(delta)) from exc
    amount = abs(delta)
    if (row.kind, row.wallet_id, row.amount) != (kind, wallet_id, amount):
        raise IdempotencyKeyReused(key)
    return Posting(
        row.transaction_id, row.wallet_id, row.kind, row.amount, row.balance_after,
        row.created_at, row.replayed,
    )  # fmt: skip


def _ledger_error(exc: DBAPIError, wallet_id: int, amount: Decimal) -> Exception:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate == INSUFFICIENT_BALANCE_SQLSTATE:
        detail = exc.orig.diag.message_detail if exc.orig is not None else None  # type: ignore[attr-defined]
        return InsufficientBalance(wallet_id, Decimal(detail or "0"), amount)
    if sqlstate == WALLET_NOT_FOUND_SQLSTATE:
        return WalletNotFound(wallet_id)
    return exc
