"""reconcileWalletBalances: a broken book is found, recorded and reported, and left as it is."""

import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal

from sqlalchemy import text
from temporalio.client import Client

from db.operations_metrics import operations_metrics
from tests.jobs.conftest import Maker, credit, run_job, spend
from workflows.operations_job_types import RECONCILE_WALLET_BALANCES_WORKFLOW


async def break_cached_balance(owner: Maker, wallet_id: int, by: str) -> None:
    async with owner() as session, session.begin():
        await session.execute(
            text(
                "UPDATE organization_token_wallets SET current_balance = current_balance + :by "
                "WHERE id = :w"
            ),
            {"by": Decimal(by), "w": wallet_id},
        )


async def insert_unbalanced_transaction(owner: Maker, wallet_id: int) -> int:
    """+10 to the wallet against -7 from adjustment: the deferred balance trigger is off for
    this session (replica role), as only a superuser can arrange."""
    async with owner() as session, session.begin():
        await session.execute(text("SET LOCAL session_replication_role = replica"))
        tx = await session.scalar(
            text(
                "INSERT INTO ledger_transactions (organization_id, idempotency_key, kind,"
                " wallet_id, amount) SELECT w.organization_id, :k, 'adjustment', w.id, 10"
                " FROM organization_token_wallets w WHERE w.id = :w RETURNING id"
            ),
            {"k": f"test:broken:{uuid.uuid4()}", "w": wallet_id},
        )
        await session.execute(
            text(
                "INSERT INTO ledger_entries (organization_id, transaction_id, account_id, amount) "
                "SELECT w.organization_id, :t, w.ledger_account_id, 10"
                " FROM organization_token_wallets w WHERE w.id = :w UNION ALL "
                "SELECT w.organization_id, :t, a.id, -7 FROM ledger_accounts a"
                " JOIN organization_token_wallets w ON w.id = :w"
                " WHERE a.code = 'system:adjustment'"
            ),
            {"t": tx, "w": wallet_id},
        )
    assert tx is not None
    return int(tx)


async def test_broken_books_are_found_reported_and_left_unfixed(
    temporal_client: Client,
    jobs_queue: str,
    session_maker: Maker,
    owner_session_maker: Maker,
    make_organization: Callable[[], Awaitable[int]],
) -> None:
    healthy, _ = await credit(session_maker, await make_organization(), "100")
    await spend(session_maker, healthy, "40")
    drifted, _ = await credit(session_maker, await make_organization(), "100")
    await break_cached_balance(owner_session_maker, drifted, "5")
    unbalanced_wallet, _ = await credit(session_maker, await make_organization(), "20")
    unbalanced_tx = await insert_unbalanced_transaction(owner_session_maker, unbalanced_wallet)

    result = await run_job(
        temporal_client, jobs_queue, RECONCILE_WALLET_BALANCES_WORKFLOW,
        history="reconcile-wallet-balances",
    )  # fmt: skip

    async with session_maker() as session:
        run = (
            await session.execute(
                text(
                    "SELECT id, status, mismatch_count, wallets_checked FROM reconciliation_runs"
                    " WHERE workflow_id = (SELECT workflow_id FROM job_runs WHERE id = :id)"
                ),
                {"id": result.job_run_id},
            )
        ).one()
        found = {
            (r.kind, r.wallet_id, r.transaction_id, r.expected, r.actual)
            for r in await session.execute(
                text(
                    "SELECT kind, wallet_id, transaction_id, expected, actual"
                    " FROM reconciliation_mismatches WHERE run_id = :run"
                    " AND wallet_id = ANY(:wallets)"
                ),
                {"run": run.id, "wallets": [healthy, drifted, unbalanced_wallet]},
            )
        }
        drifted_balance = await session.scalar(
            text("SELECT current_balance FROM organization_token_wallets WHERE id = :w"),
            {"w": drifted},
        )
        notified = await session.scalar(
            text("SELECT severity FROM notification_events WHERE idempotency_key = :k"),
            {"k": f"reconciliation:run:{run.id}:mismatches"},
        )
        metrics = await operations_metrics(session)
    assert found == {
        ("balance_vs_entries", drifted, None, Decimal("100"), Decimal("105")),
        ("balance_vs_lots", drifted, None, Decimal("100"), Decimal("105")),
        ("balance_vs_entries", unbalanced_wallet, None, Decimal("30"), Decimal("20")),
        ("unbalanced_transaction", unbalanced_wallet, unbalanced_tx, Decimal("0"), Decimal("3")),
    }
    assert run.status == "mismatches"
    assert run.mismatch_count >= 4
    assert run.wallets_checked == result.counts.seen
    assert drifted_balance == Decimal("105")
    assert notified == "critical"
    assert result.counts.failed >= 2
    assert result.counts.changed == 0
    assert metrics.reconciliation_last_run_mismatches == run.mismatch_count
    assert metrics.jobs["reconcileWalletBalances"].runs_by_status.get("succeeded", 0) >= 1
