"""The ledger's side of the provider reconciliation: the charges and refunds our purchases
record for a day (a purchase's gateway charge when it went to processing, its gateway refund when
it was refunded), and the mismatches a run found, in reconciliation_runs/_mismatches."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import ReconciliationMismatch, TokenPurchase

OperationKind = Literal["charge", "refund"]
ProviderMismatchKind = Literal[
    "provider_missing_in_ledger", "provider_missing_at_provider", "provider_amount_mismatch"
]


@dataclass(frozen=True)
class LedgerOperation:
    kind: OperationKind
    reference: str
    """The provider's id we keep: the charge's (PaymentIntent or charge) or the refund's."""
    purchase_reference: str
    organization_id: int
    wallet_id: int
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class ProviderMismatch:
    kind: ProviderMismatchKind
    subject: str
    organization_id: int | None
    wallet_id: int | None
    expected: Decimal
    """What the provider's books say (0 when it has nothing)."""
    actual: Decimal
    """What ours say (0 when we have nothing)."""


async def ledger_operations(
    session: AsyncSession, start: datetime, end: datetime
) -> list[LedgerOperation]:
    """Charges whose purchase went to processing in [start, end), refunds made in it."""
    p = TokenPurchase
    charged_at = func.coalesce(p.processing_at, p.created_at)
    rows = await session.execute(
        select(p).where(
            or_(
                and_(p.gateway_charge_id.is_not(None), charged_at >= start, charged_at < end),
                and_(p.gateway_refund_id.is_not(None), p.refunded_at >= start, p.refunded_at < end),
            )
        )
    )
    operations: list[LedgerOperation] = []
    for purchase in rows.scalars():
        common = (purchase.purchase_reference_id, purchase.organization_id, purchase.wallet_id,
                  purchase.total_amount, purchase.currency)  # fmt: skip
        charged = purchase.processing_at or purchase.created_at
        if purchase.gateway_charge_id and start <= charged < end:
            operations.append(LedgerOperation("charge", purchase.gateway_charge_id, *common))
        refunded = purchase.refunded_at
        if purchase.gateway_refund_id and refunded is not None and start <= refunded < end:
            operations.append(LedgerOperation("refund", purchase.gateway_refund_id, *common))
    return operations


async def record_provider_mismatches(
    session: AsyncSession, run_id: int, mismatches: Sequence[ProviderMismatch]
) -> None:
    if not mismatches:
        return
    await session.execute(
        insert(ReconciliationMismatch)
        .values(
            [
                {
                    "run_id": run_id,
                    "kind": m.kind,
                    "subject": m.subject[:64],
                    "organization_id": m.organization_id,
                    "wallet_id": m.wallet_id,
                    "transaction_id": None,
                    "expected": m.expected,
                    "actual": m.actual,
                }
                for m in mismatches
            ]
        )
        .on_conflict_do_nothing(
            index_elements=[
                ReconciliationMismatch.run_id,
                ReconciliationMismatch.kind,
                ReconciliationMismatch.subject,
            ]
        )
    )
