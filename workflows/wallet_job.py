"""The shared shape of a scheduled job: record the run, page through wallets in batches with a
heartbeating activity, add up the counts, record the end. A job workflow subclasses WalletJob,
names its batch activity, and may add a first step (`begin`), a last one (`conclude`), and a step
of its own after each batch (`after_batch`) for what only a workflow can do, such as starting child
workflows (activities have no Temporal client of the workflow's)."""

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
    # What the batch activity returns: a subclass carries the page's rows to `after_batch`.
    batch_outcome: ClassVar[type[BatchOutcome]] = BatchOutcome

    async def begin(self, job_run_id: int) -> int | None:
        """A first step before the first batch; its id reaches every batch as context_id."""
        return None

    async def after_batch(
        self, job_run_id: int, context_id: int | None, outcome: BatchOutcome
    ) -> JobCounts | None:
        """A step of the workflow's own after each batch; its counts are added to the run's."""
        return None

    async def conclude(
        self, job_run_id: int, context_id: int | None, counts: JobCounts
    ) -> JobCounts | None:
        """A last step after the last batch; its counts are added to the run's."""
        return None

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
                    result_type=self.batch_outcome,
                    start_to_close_timeout=BATCH_TIMEOUT,
                    heartbeat_timeout=BATCH_HEARTBEAT,
                    retry_policy=BATCH_RETRY,
                )
                counts = counts.plus(outcome.counts)
                stepped = await self.after_batch(job_run_id, context_id, outcome)
                if stepped is not None:
                    counts = counts.plus(stepped)
                if outcome.last_wallet_id is None:
                    break
                after = outcome.last_wallet_id
                if workflow.info().is_continue_as_new_suggested():
                    workflow.continue_as_new(
                        job.model_copy(
                            update={
                                "job_run_id": job_run_id,
                                "context_id": context_id,
                                "after_wallet_id": after,
                                "counts": counts,
                            }
                        )
                    )
            concluded = await self.conclude(job_run_id, context_id, counts)
            if concluded is not None:
                counts = counts.plus(concluded)
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
