"""The provider reconciliation's comparison, shared by the API/CLI (services) and the scheduled
job (activities): Stripe's balance transactions of a UTC day, as operations, against the ledger's
charges and refunds of that day; the run and its mismatches recorded in
reconciliation_runs/_mismatches. Nothing here calls Stripe; each caller fetches the day itself."""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.provider_reconciliation import (
    LedgerOperation,
    OperationKind,
    ProviderMismatch,
    ledger_operations,
    record_provider_mismatches,
)
from db.reconciliation import begin_reconciliation_run, conclude_reconciliation_run

CHARGE_TYPES = frozenset({"charge", "payment"})
REFUND_TYPES = frozenset({"refund", "payment_refund"})
ZERO_DECIMAL = frozenset("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split())


@dataclass(frozen=True)
class ProviderOperation:
    """One balance transaction as the ledger would name it."""

    kind: OperationKind
    references: tuple[str, ...]
    """Every id our books may keep for it: the charge and its PaymentIntent, or the refund."""
    transaction_id: str
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class ProviderReconciliation:
    run_id: int
    day: date
    provider_transactions: int
    ledger_operations: int
    mismatches: list[ProviderMismatch]


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), UTC)
    return start, start + timedelta(days=1)


def operation_from(txn: Mapping[str, Any]) -> ProviderOperation | None:
    """A balance transaction (as Stripe's JSON, `source` expanded or not) as an operation; None
    for fees, payouts and dispute adjustments, which are not ours to book."""
    kind: OperationKind
    if txn.get("type") in CHARGE_TYPES:
        kind = "charge"
    elif txn.get("type") in REFUND_TYPES:
        kind = "refund"
    else:
        return None
    source = txn.get("source")
    if isinstance(source, Mapping):
        references = tuple(str(r) for r in (source.get("id"), source.get("payment_intent")) if r)
    else:
        references = (str(source),)
    currency = str(txn["currency"]).upper()
    amount = Decimal(abs(int(txn["amount"]))).scaleb(0 if currency in ZERO_DECIMAL else -2)
    return ProviderOperation(kind, references, str(txn["id"]), amount, currency)


def compare(
    provider: Sequence[ProviderOperation], ledger: Sequence[LedgerOperation]
) -> list[ProviderMismatch]:
    """Each side's operations matched by kind and id; what is left over, or differs, reported."""
    ours: dict[tuple[OperationKind, str], LedgerOperation] = {
        (op.kind, op.reference): op for op in ledger
    }
    matched: set[tuple[OperationKind, str]] = set()
    mismatches: list[ProviderMismatch] = []
    for theirs in provider:
        key = next(((theirs.kind, r) for r in theirs.references if (theirs.kind, r) in ours), None)
        if key is None:
            mismatches.append(ProviderMismatch(
                "provider_missing_in_ledger", f"{theirs.kind}:{theirs.references[0]}", None, None,
                theirs.amount, Decimal(0),
            ))  # fmt: skip
            continue
        matched.add(key)
        op = ours[key]
        if (op.amount, op.currency) != (theirs.amount, theirs.currency):
            mismatches.append(ProviderMismatch(
                "provider_amount_mismatch", f"{op.kind}:{op.reference}", op.organization_id,
                op.wallet_id, theirs.amount, op.amount,
            ))  # fmt: skip
    for key, op in ours.items():
        if key not in matched:
            mismatches.append(ProviderMismatch(
                "provider_missing_at_provider", f"{op.kind}:{op.reference}", op.organization_id,
                op.wallet_id, Decimal(0), op.amount,
            ))  # fmt: skip
    return mismatches


async def reconcile_operations(
    session: AsyncSession,
    provider: Sequence[ProviderOperation],
    day: date,
    *,
    run_name: str | None = None,
) -> ProviderReconciliation:
    """Compare the provider's day with the ledger's and record the run; the caller commits."""
    start, end = day_bounds(day)
    ledger = await ledger_operations(session, start, end)
    mismatches = compare(provider, ledger)
    name = run_name or f"provider-reconciliation-{day.isoformat()}-{uuid.uuid4().hex[:12]}"
    run_id = await begin_reconciliation_run(session, name)
    await record_provider_mismatches(session, run_id, mismatches)
    await conclude_reconciliation_run(
        session, run_id=run_id, wallets_checked=0, transactions_checked=len(provider) + len(ledger)
    )
    return ProviderReconciliation(run_id, day, len(provider), len(ledger), mismatches)
