"""reconcileWalletBalances' steps: open a run, check a page of wallets in one snapshot and record
what disagrees, close the run (one critical notification when anything disagreed)."""

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.heartbeat import heartbeating
from activities.wallet_batches import load_page, page_end
from db.reconciliation import (
    begin_reconciliation_run,
    check_wallets,
    conclude_reconciliation_run,
    record_mismatches,
    use_one_snapshot,
)
from tokenbill.settings import Settings
from workflows.job_types import BatchOutcome, JobCounts, WalletBatch
from workflows.operations_job_types import (
    BEGIN_RECONCILIATION,
    CONCLUDE_RECONCILIATION,
    RECONCILE_BATCH,
)
from workflows.reconciliation_types import ConcludeReconciliation

logger = logging.getLogger("tokenbill.reconciliation")


class ReconciliationActivities:
    def __init__(self, session_maker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._session_maker = session_maker
        self._settings = settings

    def definitions(self) -> list[Callable[..., Any]]:
        return [self.begin_reconciliation, self.reconcile_batch, self.conclude_reconciliation]

    @activity.defn(name=BEGIN_RECONCILIATION)
    async def begin_reconciliation(self, workflow_id: str) -> int:
        async with self._session_maker() as session, session.begin():
            return await begin_reconciliation_run(session, workflow_id)

    @activity.defn(name=RECONCILE_BATCH)
    async def reconcile_batch(self, batch: WalletBatch) -> BatchOutcome:
        if batch.context_id is None:
            raise ValueError("a reconciliation batch needs its run id as context_id")
        page = await load_page(self._session_maker, batch, self._settings.job_batch_size)
        if not page:
            return BatchOutcome(counts=JobCounts(), last_wallet_id=None)
        async with heartbeating():
            async with self._session_maker() as session, session.begin():
                await use_one_snapshot(session)
                check = await check_wallets(session, [w.id for w in page])
            async with self._session_maker() as session, session.begin():
                await record_mismatches(session, batch.context_id, check.mismatches)
        for mismatch in check.mismatches:
            logger.error(
                "reconciliation mismatch %s %s: expected %s, cached %s",
                mismatch.kind,
                mismatch.subject,
                mismatch.expected,
                mismatch.actual,
            )
        wallets_off = {m.wallet_id for m in check.mismatches}
        counts = JobCounts(
            seen=len(page),
            changed=0,
            failed=len(wallets_off),
            details={
                "transactions_checked": check.transactions_checked,
                "mismatches": len(check.mismatches),
            },
        )
        return BatchOutcome(counts=counts, last_wallet_id=page_end(page))

    @activity.defn(name=CONCLUDE_RECONCILIATION)
    async def conclude_reconciliation(self, conclude: ConcludeReconciliation) -> int:
        async with self._session_maker() as session, session.begin():
            return await conclude_reconciliation_run(
                session,
                run_id=conclude.run_id,
                wallets_checked=conclude.counts.seen,
                transactions_checked=conclude.counts.details.get("transactions_checked", 0),
            )
