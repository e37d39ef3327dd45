"""reconcileWalletBalances: prove every wallet's balance against its entries and its lots, and
every transaction balanced; mismatches are recorded and reported, never fixed."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.job_types import JobCounts, JobInput, JobResult
    from workflows.operations_job_types import (
        BEGIN_RECONCILIATION,
        CONCLUDE_RECONCILIATION,
        RECONCILE_BATCH,
        RECONCILE_WALLET_BALANCES_JOB,
        RECONCILE_WALLET_BALANCES_WORKFLOW,
    )
    from workflows.reconciliation_types import ConcludeReconciliation
    from workflows.wallet_job import BOOKKEEPING_RETRY, BOOKKEEPING_TIMEOUT, WalletJob


@workflow.defn(name=RECONCILE_WALLET_BALANCES_WORKFLOW)
class ReconcileWalletBalancesWorkflow(WalletJob):
    job_name = RECONCILE_WALLET_BALANCES_JOB
    batch_activity = RECONCILE_BATCH

    @workflow.run
    async def run(self, job: JobInput | None = None) -> JobResult:
        return await self.run_job(job)

    async def begin(self, job_run_id: int) -> int | None:
        """The reconciliation_runs row every batch records its mismatches under."""
        run_id: int = await workflow.execute_activity(
            BEGIN_RECONCILIATION,
            workflow.info().workflow_id,
            result_type=int,
            start_to_close_timeout=BOOKKEEPING_TIMEOUT,
            retry_policy=BOOKKEEPING_RETRY,
        )
        return run_id

    async def conclude(self, job_run_id: int, context_id: int | None, counts: JobCounts) -> None:
        assert context_id is not None
        await workflow.execute_activity(
            CONCLUDE_RECONCILIATION,
            ConcludeReconciliation(run_id=context_id, counts=counts),
            start_to_close_timeout=BOOKKEEPING_TIMEOUT,
            retry_policy=BOOKKEEPING_RETRY,
        )
