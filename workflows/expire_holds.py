"""expireHolds (every minute): release every active hold past its expiry, so a hold is released
no later than a minute after it expires. A capture racing the expiry is decided by the hold's
row lock in the database: exactly one of them happens."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows.hold_expiry_types import (
        EXPIRE_DUE_HOLDS,
        EXPIRE_HOLDS_JOB,
        EXPIRE_HOLDS_WORKFLOW,
        HoldExpiryResult,
    )
    from workflows.job_types import (
        FINISH_JOB_RUN,
        START_JOB_RUN,
        FinishJobRun,
        JobCounts,
        JobInput,
        JobResult,
        StartJobRun,
    )
    from workflows.wallet_job import BOOKKEEPING_RETRY, BOOKKEEPING_TIMEOUT

EXPIRY_TIMEOUT = timedelta(minutes=5)
EXPIRY_HEARTBEAT = timedelta(seconds=30)
EXPIRY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=15),
    maximum_attempts=5,
)  # fmt: skip


@workflow.defn(name=EXPIRE_HOLDS_WORKFLOW)
class ExpireHoldsWorkflow:
    @workflow.run
    async def run(self, job: JobInput | None = None) -> JobResult:
        job_run_id = await workflow.execute_activity(
            START_JOB_RUN,
            StartJobRun(job_name=EXPIRE_HOLDS_JOB, workflow_id=workflow.info().workflow_id),
            result_type=int,
            start_to_close_timeout=BOOKKEEPING_TIMEOUT,
            retry_policy=BOOKKEEPING_RETRY,
        )
        try:
            result = await workflow.execute_activity(
                EXPIRE_DUE_HOLDS,
                result_type=HoldExpiryResult,
                start_to_close_timeout=EXPIRY_TIMEOUT,
                heartbeat_timeout=EXPIRY_HEARTBEAT,
                retry_policy=EXPIRY_RETRY,
            )
        except ActivityError as error:
            await self._finish(job_run_id, JobCounts(), str(error.cause or error))
            raise
        counts = JobCounts(
            seen=result.seen, changed=result.expired, details={"holds_expired": result.expired}
        )
        await self._finish(job_run_id, counts, None)
        return JobResult(
            job_name=EXPIRE_HOLDS_JOB, job_run_id=job_run_id, status="succeeded", counts=counts
        )

    async def _finish(self, job_run_id: int, counts: JobCounts, error: str | None) -> None:
        await workflow.execute_activity(
            FINISH_JOB_RUN,
            FinishJobRun(
                job_run_id=job_run_id,
                status="failed" if error is not None else "succeeded",
                counts=counts,
                error=error,
            ),
            start_to_close_timeout=BOOKKEEPING_TIMEOUT,
            retry_policy=BOOKKEEPING_RETRY,
        )
