"""The shared shape of a scheduled job: record the run, page through wallets in batches with a
heartbeating activity, add up the counts, record the end. A job workflow subclasses WalletJob,
names its batch activity, and may add a first step (`begin`) and a last one (`conclude`)."""

from datetime import timedelta
from typing import ClassVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows.job_types import (
        FINISH_JOB_RUN,
        START_JOB_RUN,
        BatchOutcome,
        FinishJobRun,
        JobCounts,
        JobInput,
        JobResult,
        StartJobRun,
        WalletBatch,
    )

BOOKKEEPING_TIMEOUT = timedelta(seconds=30)
BATCH_TIMEOUT = timedelta(minutes=10)
# A batch heartbeats after every wallet: a worker that died mid-batch is noticed within this.
BATCH_HEARTBEAT = timedelta(seconds=60)
BOOKKEEPING_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)
# Per-wallet failures are counted inside the batch; a whole batch failing (database down) is
# retried a few times, then the run is recorded as failed and the workflow fails for the UI.
BATCH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=5,
)


class WalletJob:
    job_name: ClassVar[str]
    batch_activity: ClassVar[str]

    async def begin(self, job_run_id: int) -> int | None:
        """A first step before the first batch; its id reaches every batch as context_id."""
        return None

    async def conclude(self, job_run_id: int, context_id: int | None, counts: JobCounts) -> None:
        """A last step after the last batch."""

    async def run_job(self, job: JobInput | None) -> JobResult:
        """Page through every wallet; a schedule starts the job without input."""
        job = job or JobInput()
        job_run_id = job.job_run_id
        context_id = job.context_id
        if job_run_id is None:
            job_run_id = await workflow.execute_activity(
                START_JOB_RUN,
                StartJobRun(job_name=self.job_name, workflow_id=workflow.info().workflow_id),
                result_type=int,
                start_to_close_timeout=BOOKKEEPING_TIMEOUT,
                retry_policy=BOOKKEEPING_RETRY,
            )
            context_id = await self.begin(job_run_id)
        counts = job.counts
        after = job.after_wallet_id
        try:
            while True:
                outcome = await workflow.execute_activity(
                    self.batch_activity,
                    WalletBatch(
                        job_run_id=job_run_id, after_wallet_id=after, context_id=context_id
                    ),
                    result_type=BatchOutcome,
                    start_to_close_timeout=BATCH_TIMEOUT,
                    heartbeat_timeout=BATCH_HEARTBEAT,
                    retry_policy=BATCH_RETRY,
                )
                counts = counts.plus(outcome.counts)
                if outcome.last_wallet_id is None:
                    break
                after = outcome.last_wallet_id
                if workflow.info().is_continue_as_new_suggested():
                    workflow.continue_as_new(
                        JobInput(
                            job_run_id=job_run_id,
                            context_id=context_id,
                            after_wallet_id=after,
                            counts=counts,
                        )
                    )
            await self.conclude(job_run_id, context_id, counts)
        except ActivityError as error:
            await self._finish(job_run_id, counts, str(error.cause or error))
            raise
        await self._finish(job_run_id, counts, None)
        return JobResult(
            job_name=self.job_name, job_run_id=job_run_id, status="succeeded", counts=counts
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
