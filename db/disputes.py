"""Disputes on purchases' charges: the rows an admin decides, and the purchase a charge paid."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import LedgerTransaction, TokenDispute, TokenPurchase


@dataclass(frozen=True)
class DisputedPurchase:
    id: int
    reference: str
    organization_id: int
    wallet_id: int
    token_quantity: Decimal
    total_amount: Decimal
    currency: str
    credit_key: str | None
    """The idempotency key of the ledger credit that put the purchase's tokens in its lot."""


async def purchase_by_id(session: AsyncSession, purchase_id: int) -> DisputedPurchase | None:
    row = await session.get(TokenPurchase, purchase_id)
    return None if row is None else await _disputed(session, row)


async def purchase_by_charge(
    session: AsyncSession, references: Sequence[str]
) -> DisputedPurchase | None:
    """The purchase whose gateway charge is one of `references` (PaymentIntent or charge id)."""
    wanted = [r for r in references if r]
    if not wanted:
        return None
    row = (
        await session.execute(
            select(TokenPurchase).where(TokenPurchase.gateway_charge_id.in_(wanted)).limit(1)
        )
    ).scalar_one_or_none()
    return None if row is None else await _disputed(session, row)


async def _disputed(session: AsyncSession, row: TokenPurchase) -> DisputedPurchase:
    credit_key = await session.scalar(
        select(LedgerTransaction.idempotency_key).where(
            LedgerTransaction.kind == "purchase",
            LedgerTransaction.wallet_id == row.wallet_id,
            LedgerTransaction.reference == row.purchase_reference_id,
        )
    )
    return DisputedPurchase(
        row.id, row.purchase_reference_id, row.organization_id, row.wallet_id,
        row.token_quantity, row.total_amount, row.currency, credit_key,
    )  # fmt: skip


async def insert_dispute(
    session: AsyncSession,
    *,
    purchase: DisputedPurchase,
    stripe_dispute_id: str,
    charge_reference: str,
    amount: Decimal,
    currency: str,
    reason: str,
    disputed_tokens: Decimal,
) -> TokenDispute | None:
    """The new dispute row (frozen, nothing frozen yet); None when it was recorded before."""
    new_id = await session.scalar(
        insert(TokenDispute)
        .values(
            organization_id=purchase.organization_id, stripe_dispute_id=stripe_dispute_id,
            purchase_id=purchase.id, wallet_id=purchase.wallet_id,
            charge_reference=charge_reference, amount=amount, currency=currency, reason=reason,
            disputed_tokens=disputed_tokens, frozen_tokens=Decimal(0),
        )
        .on_conflict_do_nothing(constraint="uq_token_disputes_stripe_id")
        .returning(TokenDispute.id)
    )  # fmt: skip
    if new_id is None:
        return None
    return await session.get(TokenDispute, (purchase.organization_id, new_id))


async def set_frozen_tokens(session: AsyncSession, dispute: TokenDispute, tokens: Decimal) -> None:
    await session.execute(
        update(TokenDispute)
        .where(TokenDispute.organization_id == dispute.organization_id)
        .where(TokenDispute.id == dispute.id)
        .values(frozen_tokens=tokens)
    )
    await session.refresh(dispute)


async def dispute_for_update(session: AsyncSession, dispute_id: int) -> TokenDispute | None:
    """The dispute, its row locked until the transaction ends (one decision at a time)."""
    return (
        await session.execute(
            select(TokenDispute).where(TokenDispute.id == dispute_id).with_for_update()
        )
    ).scalar_one_or_none()


async def record_decision(
    session: AsyncSession,
    dispute: TokenDispute,
    *,
    status: str,
    user_id: int,
    note: str | None,
    decided_at: datetime,
) -> None:
    await session.execute(
        update(TokenDispute)
        .where(TokenDispute.organization_id == dispute.organization_id)
        .where(TokenDispute.id == dispute.id)
        .values(
            status=status, decided_by_user_id=user_id, decision_note=note, decided_at=decided_at
        )
    )
    await session.refresh(dispute)


async def list_disputes(
    session: AsyncSession, *, status: str | None, limit: int, offset: int
) -> tuple[list[TokenDispute], int]:
    """Newest first, optionally one status; with the count of all that match."""
    matching = select(TokenDispute)
    if status is not None:
        matching = matching.where(TokenDispute.status == status)
    total = await session.scalar(select(func.count()).select_from(matching.subquery()))
    rows = await session.execute(
        matching.order_by(TokenDispute.created_at.desc(), TokenDispute.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows.scalars()), int(total or 0)


async def dispute_by_id(session: AsyncSession, dispute_id: int) -> TokenDispute | None:
    """The dispute as it stands (no lock): what a confirmation page shows."""
    return await session.scalar(select(TokenDispute).where(TokenDispute.id == dispute_id))
