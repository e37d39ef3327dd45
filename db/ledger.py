"""Ledger operations: every movement is one database transaction of balanced entries.

Callers pass an AsyncSession inside an open transaction (`async with session.begin()`); an error
raised here must roll that transaction back, which also releases the claimed idempotency key.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import text
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
) -> Posting:
    """Add tokens to a wallet as a new lot; a replayed key returns the first posting."""
    validate_token_amount(amount)
    claimed = await _claim(
        session, idempotency_key, kind, wallet_id, amount, description, reference
    )
    if claimed is None:
        return await _replay(session, idempotency_key, kind, wallet_id, amount)
    transaction_id, created_at = claimed
    row = (
        await session.execute(
            text(
                "UPDATE organization_token_wallets SET current_balance = current_balance + :a, "
                "total_purchased = total_purchased + CASE WHEN :kind = 'purchase' THEN :a "
                "ELSE 0 END, updated_at = now() WHERE id = :w "
                "RETURNING current_balance, organization_id, ledger_account_id"
            ),
            {"a": amount, "w": wallet_id, "kind": kind},
        )
    ).one_or_none()
    if row is None:
        raise WalletNotFound(wallet_id)
    balance_after, organization_id, account_id = row
    await _write_entries(session, transaction_id, kind, account_id, amount)
    await session.execute(
        text(
            "INSERT INTO token_lots (wallet_id, transaction_id, original_amount, "
            "remaining_amount, expires_at) VALUES (:w, :t, :a, :a, :exp)"
        ),
        {"w": wallet_id, "t": transaction_id, "a": amount, "exp": expires_at},
    )
    await _write_history(
        session, transaction_id, wallet_id, organization_id, kind, amount, balance_after,
        description, reference,
    )  # fmt: skip
    return Posting(transaction_id, wallet_id, kind, amount, balance_after, created_at, False)


async def debit(
    session: AsyncSession,
    *,
    wallet_id: int,
    amount: Decimal,
    idempotency_key: str,
    kind: DebitKind = "consumption",
    description: str | None = None,
    reference: str | None = None,
) -> Posting:
    """Take tokens from a wallet, first-to-expire lots first; never below zero."""
    validate_token_amount(amount)
    claimed = await _claim(
        session, idempotency_key, kind, wallet_id, amount, description, reference
    )
    if claimed is None:
        return await _replay(session, idempotency_key, kind, wallet_id, amount)
    transaction_id, created_at = claimed
    # The conditional UPDATE both decides and locks the wallet row: concurrent spends queue here.
    row = (
        await session.execute(
            text(
                "UPDATE organization_token_wallets SET current_balance = current_balance - :a, "
                "total_consumed = total_consumed + CASE WHEN :kind = 'consumption' THEN :a "
                "ELSE 0 END, updated_at = now() WHERE id = :w AND current_balance >= :a "
                "RETURNING current_balance, organization_id, ledger_account_id"
            ),
            {"a": amount, "w": wallet_id, "kind": kind},
        )
    ).one_or_none()
    if row is None:
        balance = await session.scalar(
            text("SELECT current_balance FROM organization_token_wallets WHERE id = :w"),
            {"w": wallet_id},
        )
        if balance is None:
            raise WalletNotFound(wallet_id)
        raise InsufficientBalance(wallet_id, Decimal(balance), amount)
    balance_after, organization_id, account_id = row
    await _write_entries(session, transaction_id, kind, account_id, -amount)
    await _draw_lots(session, wallet_id, amount)
    await _write_history(
        session, transaction_id, wallet_id, organization_id, kind, -amount, balance_after,
        description, reference,
    )  # fmt: skip
    return Posting(transaction_id, wallet_id, kind, amount, balance_after, created_at, False)


async def _claim(
    session: AsyncSession,
    key: str,
    kind: str,
    wallet_id: int,
    amount: Decimal,
    description: str | None,
    reference: str | None,
) -> tuple[int, datetime] | None:
    """Insert the transaction row; None when the key already exists (a replay)."""
    row = (
        await session.execute(
            text(
                "INSERT INTO ledger_transactions (idempotency_key, kind, wallet_id, amount, "
                "description, reference) VALUES (:k, :kind, :w, :a, :d, :r) "
                "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, created_at"
            ),
            {"k": key, "kind": kind, "w": wallet_id, "a": amount, "d": description, "r": reference},
        )
    ).one_or_none()
    return None if row is None else (int(row[0]), row[1])


async def _replay(
    session: AsyncSession, key: str, kind: str, wallet_id: int, amount: Decimal
) -> Posting:
    row = (
        await session.execute(
            text(
                "SELECT t.id, t.kind, t.wallet_id, t.amount, h.balance_after, t.created_at "
                "FROM ledger_transactions t JOIN token_balance_history h "
                "ON h.transaction_id = t.id WHERE t.idempotency_key = :k"
            ),
            {"k": key},
        )
    ).one()
    if (row.kind, row.wallet_id, row.amount) != (kind, wallet_id, amount):
        raise IdempotencyKeyReused(key)
    return Posting(row.id, row.wallet_id, row.kind, row.amount, row.balance_after,
                   row.created_at, True)  # fmt: skip


async def _write_entries(
    session: AsyncSession, transaction_id: int, kind: str, wallet_account_id: int, delta: Decimal
) -> None:
    """Two entries that sum to zero: the wallet's and the system account's opposite."""
    await session.execute(
        text(
            "INSERT INTO ledger_entries (transaction_id, account_id, amount) "
            "SELECT :t, :wallet_account, :delta UNION ALL "
            "SELECT :t, id, -CAST(:delta AS numeric) FROM ledger_accounts WHERE code = :system"
        ),
        {
            "t": transaction_id,
            "wallet_account": wallet_account_id,
            "delta": delta,
            "system": SYSTEM_ACCOUNT_BY_KIND[kind],
        },
    )


async def _draw_lots(session: AsyncSession, wallet_id: int, amount: Decimal) -> None:
    """Reduce open lots first-to-expire (no expiry last), then oldest first, by amount in total."""
    await session.execute(
        text(
            "WITH ordered AS ("
            "  SELECT id, remaining_amount, sum(remaining_amount) OVER ("
            "    ORDER BY expires_at ASC NULLS LAST, created_at, id) AS running"
            "  FROM token_lots WHERE wallet_id = :w AND remaining_amount > 0),"
            " taken AS ("
            "  SELECT id, LEAST(remaining_amount, :a - (running - remaining_amount)) AS take"
            "  FROM ordered WHERE running - remaining_amount < :a)"
            " UPDATE token_lots l SET remaining_amount = l.remaining_amount - taken.take"
            " FROM taken WHERE l.id = taken.id"
        ),
        {"w": wallet_id, "a": amount},
    )


async def _write_history(
    session: AsyncSession,
    transaction_id: int,
    wallet_id: int,
    organization_id: int,
    kind: str,
    change: Decimal,
    balance_after: Decimal,
    description: str | None,
    reference: str | None,
) -> None:
    await session.execute(
        text(
            "INSERT INTO token_balance_history (wallet_id, organization_id, transaction_id, "
            "change_type, change_amount, balance_before, balance_after, description, reference) "
            "VALUES (:w, :o, :t, :kind, :c, :after - :c, :after, :d, :r)"
        ),
        {
            "w": wallet_id, "o": organization_id, "t": transaction_id, "kind": kind, "c": change,
            "after": balance_after, "d": description, "r": reference,
        },
    )  # fmt: skip
