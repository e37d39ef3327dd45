"""The books after the run: balanced transactions, balances equal to entries and lots (the
reconciliation module's own checks), nothing negative, and the reconciliation job's verdict."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from chaos.verdict import Verdict
from db.reconciliation import check_wallets

UNBALANCED_SQL = """
SELECT t.id, coalesce(sum(e.amount), 0) AS total, count(e.id) AS entries
  FROM ledger_transactions t LEFT JOIN ledger_entries e ON e.transaction_id = t.id
 GROUP BY t.id HAVING count(e.id) = 0 OR sum(e.amount) <> 0
"""
NEGATIVE_SQL = {
    "wallet balance": "SELECT id, current_balance FROM organization_token_wallets "
    "WHERE current_balance < 0",
    "lot remainder": "SELECT id, remaining_amount FROM token_lots WHERE remaining_amount < 0",
    "balance after a movement": "SELECT transaction_id, balance_after FROM token_balance_history "
    "WHERE balance_after < 0",
}


async def books_balanced(session: AsyncSession) -> list[Verdict]:
    """Call inside a snapshot (db.reconciliation.use_one_snapshot)."""
    balanced = Verdict("every ledger transaction balanced")
    count = await session.scalar(text("SELECT count(*) FROM ledger_transactions"))
    balanced.looked_at = f"{count} transactions"
    for row in await session.execute(text(UNBALANCED_SQL)):
        balanced.violations.append(f"transaction {row.id}: {row.entries} entries sum {row.total}")
    wallet_ids = list(await session.scalars(text("SELECT id FROM organization_token_wallets")))
    found = await check_wallets(session, wallet_ids)
    balances = Verdict(
        "every wallet's balance equals its entries and its lots", f"{len(wallet_ids)} wallets"
    )
    for m in found.mismatches:
        target = balanced if m.kind == "unbalanced_transaction" else balances
        target.violations.append(f"{m.kind} {m.subject}: expected {m.expected}, is {m.actual}")
    negative = Verdict("no negative balance", "wallets, lots, and every balance after a movement")
    for what, sql in NEGATIVE_SQL.items():
        for row in await session.execute(text(sql)):
            negative.violations.append(f"{what} {row[0]} is {row[1]}")
    return [balanced, balances, negative]


async def reconciliation_clean(session: AsyncSession, workflow_id: str) -> Verdict:
    verdict = Verdict("the reconciliation job found the books clean", workflow_id)
    run = (
        await session.execute(
            text(
                "SELECT status, wallets_checked, transactions_checked, mismatch_count "
                "FROM reconciliation_runs WHERE workflow_id = :wf"
            ),
            {"wf": workflow_id},
        )
    ).one_or_none()
    if run is None:
        verdict.violations.append(f"the job {workflow_id} recorded no reconciliation run")
        return verdict
    verdict.looked_at = (
        f"{workflow_id}: {run.wallets_checked} wallets, {run.transactions_checked} transactions"
    )
    if run.status != "clean" or run.mismatch_count:
        verdict.violations.append(f"status {run.status}, {run.mismatch_count} mismatches")
    return verdict
