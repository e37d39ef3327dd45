"""Reconciliation: every wallet's cached balance against the sum of its ledger entries, its held
tokens against its held account's entries and its active holds, its balance and held tokens
together against its lots' remainders, and every ledger transaction against zero.
Disagreements are recorded in reconciliation_mismatches and reported; nothing here changes the
books."""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    OrganizationTokenWallet,
    ReconciliationMismatch,
    ReconciliationRun,
    TokenHold,
    TokenLot,
)
from db.notifications import record_event

MismatchKind = Literal[
    "balance_vs_entries", "balance_vs_lots", "unbalanced_transaction", "held_vs_entries",
    "held_vs_holds",
]  # fmt: skip
MISMATCHES_FOUND = "reconciliation.mismatches_found"
NOTIFIED_MISMATCHES = 20


@dataclass(frozen=True)
class Mismatch:
    kind: MismatchKind
    subject: str
    wallet_id: int
    organization_id: int
    transaction_id: int | None
    expected: Decimal
    actual: Decimal


@dataclass(frozen=True)
class BatchCheck:
    mismatches: list[Mismatch]
    transactions_checked: int


_MISMATCH_COLUMNS = (
    ReconciliationMismatch.kind,
    ReconciliationMismatch.subject,
    ReconciliationMismatch.wallet_id,
    ReconciliationMismatch.organization_id,
    ReconciliationMismatch.transaction_id,
    ReconciliationMismatch.expected,
    ReconciliationMismatch.actual,
)


async def use_one_snapshot(session: AsyncSession) -> None:
    """Make the open transaction read one snapshot, so a spend committing meanwhile cannot look
    like a mismatch (balance and entries change together, in one transaction)."""
    # Raw SQL: SQLAlchemy sets an isolation level only on a connection before its transaction
    # begins; callers have begun theirs, and SET TRANSACTION is its first statement.
    await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))


async def check_wallets(session: AsyncSession, wallet_ids: Sequence[int]) -> BatchCheck:
    """Every disagreement in these wallets' books (call after use_one_snapshot)."""
    ids = list(wallet_ids)
    mismatches: list[Mismatch] = []
    wallet, entry, lot, movement = OrganizationTokenWallet, LedgerEntry, TokenLot, LedgerTransaction
    # Every join names the organisation too: distributed, a wallet's books sit on its shard.
    entries = select(func.sum(entry.amount)).where(
        entry.organization_id == wallet.organization_id,
        entry.account_id == wallet.ledger_account_id,
    )
    lots = select(func.sum(lot.remaining_amount)).where(
        lot.organization_id == wallet.organization_id, lot.wallet_id == wallet.id
    )
    # The organization's held account (`held:org-<id>`, migration 0019) and its active holds.
    held_entries = (
        select(func.sum(entry.amount))
        .join(LedgerAccount, LedgerAccount.id == entry.account_id)
        .where(
            entry.organization_id == wallet.organization_id,
            LedgerAccount.code == func.concat("held:org-", wallet.organization_id),
        )
    )
    holds = select(func.sum(TokenHold.amount)).where(
        TokenHold.organization_id == wallet.organization_id, TokenHold.status == "active"
    )
    wallets = await session.execute(
        select(
            wallet.id,
            wallet.organization_id,
            wallet.current_balance,
            wallet.held_balance,
            func.coalesce(entries.scalar_subquery(), 0),
            func.coalesce(lots.scalar_subquery(), 0),
            func.coalesce(held_entries.scalar_subquery(), 0),
            func.coalesce(holds.scalar_subquery(), 0),
        )
        .where(wallet.id.in_(ids))
        .order_by(wallet.id)
    )
    for row in wallets:
        wallet_id, organization_id, balance, held = row[:4]
        entries_sum, lots_sum, held_sum, holds_sum = row[4:]
        subject = f"wallet:{wallet_id}"
        # (kind, what the books say, what the wallet caches): the lots hold the held tokens too.
        checks: tuple[tuple[MismatchKind, Decimal, Decimal], ...] = (
            ("balance_vs_entries", entries_sum, balance),
            ("balance_vs_lots", lots_sum, balance + held),
            ("held_vs_entries", held_sum, held),
            ("held_vs_holds", holds_sum, held),
        )
        for kind, expected, actual in checks:
            if expected != actual:
                mismatches.append(
                    Mismatch(kind, subject, wallet_id, organization_id, None, expected, actual)
                )
    checked = await session.scalar(
        select(func.count()).select_from(movement).where(movement.wallet_id.in_(ids))
    )
    unbalanced = await session.execute(
        select(movement.id, movement.wallet_id, wallet.organization_id, func.sum(entry.amount))
        .join(
            wallet,
            (wallet.organization_id == movement.organization_id)
            & (wallet.id == movement.wallet_id),
        )
        .join(
            entry,
            (entry.organization_id == movement.organization_id)
            & (entry.transaction_id == movement.id),
        )
        .where(movement.wallet_id.in_(ids))
        .group_by(movement.id, movement.wallet_id, wallet.organization_id)
        .having(func.sum(entry.amount) != 0)
        .order_by(movement.id)
    )
    for transaction_id, wallet_id, organization_id, total in unbalanced:
        mismatches.append(
            Mismatch(
                "unbalanced_transaction", f"transaction:{transaction_id}", wallet_id,
                organization_id, transaction_id, Decimal(0), total,
            )
        )  # fmt: skip
    return BatchCheck(mismatches, int(checked or 0))


async def begin_reconciliation_run(session: AsyncSession, workflow_id: str) -> int:
    """The run's id; a retried begin finds the row its workflow id already made."""
    upsert = insert(ReconciliationRun).values(workflow_id=workflow_id)
    run_id = await session.scalar(
        upsert.on_conflict_do_update(
            index_elements=[ReconciliationRun.workflow_id],
            set_={"workflow_id": upsert.excluded.workflow_id},
        ).returning(ReconciliationRun.id)
    )
    assert run_id is not None
    return int(run_id)


async def record_mismatches(
    session: AsyncSession, run_id: int, mismatches: Sequence[Mismatch]
) -> None:
    """Insert each mismatch once per run (a retried batch finds the rows it wrote)."""
    if not mismatches:
        return
    await session.execute(
        insert(ReconciliationMismatch)
        .values([{"run_id": run_id, **asdict(m)} for m in mismatches])
        .on_conflict_do_nothing(
            index_elements=[
                ReconciliationMismatch.run_id,
                ReconciliationMismatch.kind,
                ReconciliationMismatch.subject,
            ]
        )
    )


async def conclude_reconciliation_run(
    session: AsyncSession, *, run_id: int, wallets_checked: int, transactions_checked: int
) -> int:
    """Close the run; when it found mismatches, one critical notification. Returns the count."""
    found = await session.execute(
        select(*_MISMATCH_COLUMNS)
        .where(ReconciliationMismatch.run_id == run_id)
        .order_by(ReconciliationMismatch.id)
    )
    mismatches = [Mismatch(**row._asdict()) for row in found]
    await session.execute(
        update(ReconciliationRun)
        .where(ReconciliationRun.id == run_id)
        .values(
            finished_at=func.coalesce(ReconciliationRun.finished_at, func.now()),
            status="mismatches" if mismatches else "clean",
            wallets_checked=wallets_checked,
            transactions_checked=transactions_checked,
            mismatch_count=len(mismatches),
        )
    )
    if mismatches:
        await record_event(
            session,
            idempotency_key=f"reconciliation:run:{run_id}:mismatches",
            event_type=MISMATCHES_FOUND,
            severity="critical",
            payload={
                "run_id": run_id,
                "mismatch_count": len(mismatches),
                "mismatches": [
                    {
                        **asdict(m),
                        "expected": str(m.expected),
                        "actual": str(m.actual),
                    }
                    for m in mismatches[:NOTIFIED_MISMATCHES]
                ],
            },
        )
    return len(mismatches)


@dataclass(frozen=True)
class RunWithMismatches:
    id: int
    workflow_id: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    wallets_checked: int
    transactions_checked: int
    mismatch_count: int
    mismatches: list[Mismatch]


async def latest_reconciliation_runs(
    session: AsyncSession, *, limit: int, mismatches_per_run: int
) -> list[RunWithMismatches]:
    """The newest runs first, each with its first mismatches."""
    run = ReconciliationRun
    runs = list(
        await session.scalars(
            select(run).order_by(run.started_at.desc(), run.id.desc()).limit(limit)
        )
    )
    found: dict[int, list[Mismatch]] = {r.id: [] for r in runs}
    if runs:
        mismatch = ReconciliationMismatch
        position = func.row_number().over(partition_by=mismatch.run_id, order_by=mismatch.id)
        ranked = (
            select(mismatch.run_id, *_MISMATCH_COLUMNS, position.label("rank_in_run"))
            .where(mismatch.run_id.in_(found))
            .subquery()
        )
        rows = await session.execute(
            select(ranked)
            .where(ranked.c.rank_in_run <= mismatches_per_run)
            .order_by(ranked.c.run_id, ranked.c.rank_in_run)
        )
        for row in rows:
            fields = row._asdict()
            del fields["rank_in_run"]
            found[fields.pop("run_id")].append(Mismatch(**fields))
    return [
        RunWithMismatches(
            id=r.id, workflow_id=r.workflow_id, status=r.status, started_at=r.started_at,
            finished_at=r.finished_at, wallets_checked=r.wallets_checked,
            transactions_checked=r.transactions_checked, mismatch_count=r.mismatch_count,
            mismatches=found[r.id],
        )
        for r in runs
    ]  # fmt: skip
