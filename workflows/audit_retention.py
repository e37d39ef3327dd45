"""cleanupOldAuditLogs: create the audit log's monthly partitions ahead, and drop those older
than the retention (AUDIT_LOG_RETENTION_DAYS). The one path that removes audit records. It also
removes Idempotency-Key records past IDEMPOTENCY_KEY_RETENTION and spend limits' usage rows past
SPEND_LIMIT_USAGE_RETENTION (never a limit's current or previous period)."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows.finance_job_types import (
        APPLY_AUDIT_RETENTION,
        CLEANUP_OLD_AUDIT_LOGS_JOB,
        CLEANUP_OLD_AUDIT_LOGS_WORKFLOW,
        AuditRetentionRequest,
        AuditRetentionResult,
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

RETENTION_TIMEOUT = timedelta(minutes=10)
RETENTION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=1), maximum_attempts=5
)


@workflow.defn(name=CLEANUP_OLD_AUDIT_LOGS_WORKFLOW)
class CleanupOldAuditLogsWorkflow:
    @workflow.run
    async def run(self, job: JobInput | None = None) -> JobResult:
        job_run_id = await workflow.execute_activity(
            START_JOB_RUN,
            StartJobRun(
                job_name=CLEANUP_OLD_AUDIT_LOGS_JOB, workflow_id=workflow.info().workflow_id
            ),
            result_type=int,
            start_to_close_timeout=BOOKKEEPING_TIMEOUT,
            retry_policy=BOOKKEEPING_RETRY,
        )
        try:
            result = await workflow.execute_activity(
                APPLY_AUDIT_RETENTION,
                AuditRetentionRequest(now=workflow.now()),
                result_type=AuditRetentionResult,
                start_to_close_timeout=RETENTION_TIMEOUT,
                retry_policy=RETENTION_RETRY,
            )
        except ActivityError as error:
            await self._finish(job_run_id, JobCounts(), str(error.cause or error))
            raise
        counts = JobCounts(
            seen=len(result.partitions_created) + len(result.partitions_dropped),
            changed=len(result.partitions_created) + len(result.partitions_dropped),
            details={
                "partitions_created": len(result.partitions_created),
                "partitions_dropped": len(result.partitions_dropped),
                "default_rows_deleted": result.default_rows_deleted,
                "idempotency_records_deleted": result.idempotency_records_deleted,
                "spend_limit_usage_deleted": result.spend_limit_usage_deleted,
            },
        )
        await self._finish(job_run_id, counts, None)
        return JobResult(
            job_name=CLEANUP_OLD_AUDIT_LOGS_JOB, job_run_id=job_run_id, status="succeeded",
            counts=counts,
        )  # fmt: skip

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
