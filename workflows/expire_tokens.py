"""cleanupExpiredTokens: expire each lot's unspent remainder past its date; warn ahead of it."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.job_types import JobInput, JobResult
    from workflows.operations_job_types import (
        CLEANUP_EXPIRED_TOKENS_JOB,
        CLEANUP_EXPIRED_TOKENS_WORKFLOW,
        EXPIRE_TOKENS_BATCH,
    )
    from workflows.wallet_job import WalletJob


@workflow.defn(name=CLEANUP_EXPIRED_TOKENS_WORKFLOW)
class CleanupExpiredTokensWorkflow(WalletJob):
    job_name = CLEANUP_EXPIRED_TOKENS_JOB
    batch_activity = EXPIRE_TOKENS_BATCH

    @workflow.run
    async def run(self, job: JobInput | None = None) -> JobResult:
        return await self.run_job(job)
