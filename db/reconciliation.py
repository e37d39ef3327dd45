"""Reconciliation: every wallet's cached balance against the sum of its ledger entries and of its
lots' remainders, and every ledger transaction against zero. Disagreements are recorded in
reconciliation_mismatches and reported; nothing here changes the books."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from db.notifications import record_event

MismatchKind = Literal["balance_vs_entries", "balance_vs_lots", "unbalanced_transaction"]
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


async def use_one_snapshot(session: AsyncSession) -> None:
    """Make the open transaction read one snapshot, so a spend committing meanwhile cannot look
    like a mismatch (balance and entries change together, in one transaction)."""
    await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))


async def check_wallets(session: AsyncSession, wallet_ids: Sequence[int]) -> BatchCheck:
    """Every disagreement in these wallets' books (call after use_one_snapshot)."""
    ids = list(wallet_ids)
    mismatches: list[Mismatch] = []
    wallets = await session.execute(
        text(
            "SELECT w.id, w.organization_id, w.current_balance, "
            "coalesce((SELECT sum(e.amount) FROM ledger_entries e "
            "          WHERE e.account_id = w.ledger_account_id), 0) AS entries, "
            "coalesce((SELECT sum(l.remaining_amount) FROM token_lots l "
            "          WHERE l.wallet_id = w.id), 0) AS lots "
            "FROM organization_token_wallets w WHERE w.id = ANY(:ids) ORDER BY w.id"
        ),
        {"ids": ids},
    )
    for w in wallets:
        subject = f"wallet:{w.id}"
        if w.entries != w.current_balance:
            mismatches.append(
                Mismatch(
                    "balance_vs_entries",
                    subject,
                    w.id,
                    w.organization_id,
                    None,
                    w.entries,
                    w.current_balance,
                )
            )
        if w.lots != w.current_balance:
            mismatches.append(
                Mismatch(
                    "balance_vs_lots",
                    subject,
                    w.id,
                    w.organization_id,
                    None,
                    w.lots,
                    w.current_balance,
                )
            )
    checked = await session.scalar(
        text("SELECT count(*) FROM ledger_transactions WHERE wallet_id = ANY(:ids)"), {"ids": ids}
    )
    unbalanced = await session.execute(
        text(
            "SELECT t.id, t.wallet_id, w.organization_id, sum(e.amount) AS total "
            "FROM ledger_transactions t "
            "JOIN organization_token_wallets w ON w.id = t.wallet_id "
            "JOIN ledger_entries e ON e.transaction_id = t.id "
            "WHERE t.wallet_id = ANY(:ids) "
            "GROUP BY t.id, t.wallet_id, w.organization_id HAVING sum(e.amount) <> 0 "
            "ORDER BY t.id"
        ),
        {"ids": ids},
    )
    for t in unbalanced:
        mismatches.append(
            Mismatch(
                "unbalanced_transaction",
                f"transaction:{t.id}",
                t.wallet_id,
                t.organization_id,
                t.id,
                Decimal(0),
                t.total,
            )
        )
    return BatchCheck(mismatches, int(checked or 0))


async def begin_reconciliation_run(session: AsyncSession, workflow_id: str) -> int:
    run_id = await session.scalar(
        text(
            "INSERT INTO reconciliation_runs (workflow_id) VALUES (:wf) ON CONFLICT (workflow_id) "
            "DO UPDATE SET workflow_id = EXCLUDED.workflow_id RETURNING id"
        ),
        {"wf": workflow_id},
    )
    assert run_id is not None
    return int(run_id)


async def record_mismatches(
    session: AsyncSession, run_id: int, mismatches: Sequence[Mismatch]
) -> None:
    """Insert each mismatch once per run (a retried batch finds the rows it wrote)."""
    for m in mismatches:
        await session.execute(
            text(
                "INSERT INTO reconciliation_mismatches (run_id, kind, subject, wallet_id, "
                "organization_id, transaction_id, expected, actual) VALUES (:run, :kind, :subject,"
                " :wallet, :org, :tx, :expected, :actual) "
                "ON CONFLICT (run_id, kind, subject) DO NOTHING"
            ),
            {
                "run": run_id,
                "kind": m.kind,
                "subject": m.subject,
                "wallet": m.wallet_id,
                "org": m.organization_id,
                "tx": m.transaction_id,
                "expected": m.expected,
                "actual": m.actual,
            },
        )


async def conclude_reconciliation_run(
    session: AsyncSession, *, run_id: int, wallets_checked: int, transactions_checked: int
) -> int:
    """Close the run; when it found mismatches, one critical notification. Returns the count."""
    found = await session.execute(
        text(
            "SELECT kind, subject, wallet_id, organization_id, transaction_id, expected, actual "
            "FROM reconciliation_mismatches WHERE run_id = :run ORDER BY id"
        ),
        {"run": run_id},
    )
    mismatches = list(found)
    await session.execute(
        text(
            "UPDATE reconciliation_runs SET finished_at = coalesce(finished_at, now()), "
            "status = :status, wallets_checked = :wallets, transactions_checked = :transactions,"
            " mismatch_count = :count WHERE id = :run"
        ),
        {
            "run": run_id,
            "status": "mismatches" if mismatches else "clean",
            "wallets": wallets_checked,
            "transactions": transactions_checked,
            "count": len(mismatches),
        },
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
                        "kind": m.kind,
                        "subject": m.subject,
                        "wallet_id": m.wallet_id,
                        "organization_id": m.organization_id,
                        "transaction_id": m.transaction_id,
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
    runs = list(
        await session.execute(
            text(
                "SELECT id, workflow_id, status, started_at, finished_at, wallets_checked, "
                "transactions_checked, mismatch_count FROM reconciliation_runs "
                "ORDER BY started_at DESC, id DESC LIMIT :limit"
            ),
            {"limit": limit},
        )
    )
    found: dict[int, list[Mismatch]] = {run.id: [] for run in runs}
    if runs:
        rows = await session.execute(
            text(
                "SELECT run_id, kind, subject, wallet_id, organization_id, transaction_id, "
                "expected, actual FROM (SELECT m.*, row_number() OVER "
                "(PARTITION BY run_id ORDER BY id) AS n FROM reconciliation_mismatches m "
                "WHERE run_id = ANY(:runs)) ranked WHERE n <= :per_run ORDER BY run_id, n"
            ),
            {"runs": list(found), "per_run": mismatches_per_run},
        )
        for r in rows:
            found[r.run_id].append(
                Mismatch(
                    r.kind,
                    r.subject,
                    r.wallet_id,
                    r.organization_id,
                    r.transaction_id,
                    r.expected,
                    r.actual,
                )
            )
    return [
        RunWithMismatches(
            id=run.id,
            workflow_id=run.workflow_id,
            status=run.status,
            started_at=run.started_at,
            finished_at=run.finished_at,
            wallets_checked=run.wallets_checked,
            transactions_checked=run.transactions_checked,
            mismatch_count=run.mismatch_count,
            mismatches=found[run.id],
        )
        for run in runs
    ]
