"""The provider reconciliation: Stripe's balance transactions of a UTC day (charges, refunds)
against the charges and refunds our purchases record for it. A charge or refund on one side only,
or with another amount, is a mismatch, recorded in reconciliation_runs/_mismatches (finance is
notified, as the wallet reconciliation does); nothing is corrected here."""

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import stripe
from sqlalchemy.ext.asyncio import AsyncSession

from db.provider_reconciliation import (
    LedgerOperation,
    OperationKind,
    ProviderMismatch,
    ledger_operations,
    record_provider_mismatches,
)
from db.reconciliation import begin_reconciliation_run, conclude_reconciliation_run
from services.payments_provider.minor_units import from_minor_units
from services.payments_provider.stripe_api import provider_unavailable, stripe_client
from tokenbill.settings import Settings

PAGE_SIZE = 100
CHARGE_TYPES = frozenset({"charge", "payment"})
REFUND_TYPES = frozenset({"refund", "payment_refund"})


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


async def provider_operations(settings: Settings, day: date) -> list[ProviderOperation]:
    """Every charge and refund balance transaction Stripe created in the day, all pages."""
    client = stripe_client(settings)
    start, end = day_bounds(day)
    params: dict[str, Any] = {
        "created": {"gte": int(start.timestamp()), "lt": int(end.timestamp())},
        "limit": PAGE_SIZE,
        "expand": ["data.source"],
    }
    found: list[ProviderOperation] = []
    try:
        while True:
            page = await client.v1.balance_transactions.list_async(params=params)  # type: ignore[arg-type]
            for txn in page.data:
                operation = _operation(txn)
                if operation is not None:
                    found.append(operation)
            if not page.has_more or not page.data:
                return found
            params["starting_after"] = page.data[-1].id
    except stripe.StripeError as exc:
        raise provider_unavailable(exc) from exc


def _operation(txn: stripe.BalanceTransaction) -> ProviderOperation | None:
    kind: OperationKind
    if txn.type in CHARGE_TYPES:
        kind = "charge"
    elif txn.type in REFUND_TYPES:
        kind = "refund"
    else:
        return None  # fees, payouts, dispute adjustments: not ours to book
    source: Any = txn.source
    if isinstance(source, str) or source is None:
        references: tuple[str, ...] = (str(source),)
    else:
        expanded = source.to_dict()  # a Charge or Refund (expand data.source)
        references = tuple(
            str(r) for r in (expanded.get("id"), expanded.get("payment_intent")) if r
        )
    currency = txn.currency.upper()
    return ProviderOperation(
        kind, references, txn.id, from_minor_units(abs(txn.amount), currency), currency
    )


def compare(
    provider: list[ProviderOperation], ledger: list[LedgerOperation]
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
            mismatches.append(
                ProviderMismatch(
                    "provider_missing_in_ledger",
                    f"{theirs.kind}:{theirs.references[0]}",
                    None,
                    None,
                    theirs.amount,
                    Decimal(0),
                )
            )
            continue
        matched.add(key)
        op = ours[key]
        if (op.amount, op.currency) != (theirs.amount, theirs.currency):
            mismatches.append(
                ProviderMismatch(
                    "provider_amount_mismatch",
                    f"{op.kind}:{op.reference}",
                    op.organization_id,
                    op.wallet_id,
                    theirs.amount,
                    op.amount,
                )
            )
    for key, op in ours.items():
        if key not in matched:
            mismatches.append(
                ProviderMismatch(
                    "provider_missing_at_provider",
                    f"{op.kind}:{op.reference}",
                    op.organization_id,
                    op.wallet_id,
                    Decimal(0),
                    op.amount,
                )
            )
    return mismatches


async def reconcile_day(
    session: AsyncSession, settings: Settings, day: date, *, run_name: str | None = None
) -> ProviderReconciliation:
    """Fetch Stripe's day, compare it with the ledger's, record the run; the caller commits."""
    provider = await provider_operations(settings, day)
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
