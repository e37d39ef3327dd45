"""reconcileProviderPayments: yesterday's (UTC) Stripe balance transactions against the ledger's
charges and refunds, recorded as a reconciliation run (mismatches reported, nothing fixed); the
run is a job_runs row like every job's. Scheduled only when PAYMENT_GATEWAY=stripe."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows.job_types import (
        FINISH_JOB_RUN,
        START_JOB_RUN,
        FinishJobRun,
        JobCounts,
        JobInput,
        JobResult,
        StartJobRun,
    )
    from workflows.provider_reconciliation_types import (
        RECONCILE_PROVIDER_DAY,
        RECONCILE_PROVIDER_PAYMENTS_JOB,
        RECONCILE_PROVIDER_PAYMENTS_WORKFLOW,
        ProviderDay,
        ProviderDayOutcome,
    )
    from workflows.wallet_job import BOOKKEEPING_RETRY, BOOKKEEPING_TIMEOUT

PROVIDER_TIMEOUT = timedelta(minutes=10)
PROVIDER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=2),
    maximum_attempts=5, non_retryable_error_types=["ProviderNotConfigured"],
)  # fmt: skip


@workflow.defn(name=RECONCILE_PROVIDER_PAYMENTS_WORKFLOW)
class ReconcileProviderPaymentsWorkflow:
    @workflow.run
    async def run(self, job: JobInput | None = None) -> JobResult:
        workflow_id = workflow.info().workflow_id
        job_run_id: int = await workflow.execute_activity(
            START_JOB_RUN,
            StartJobRun(job_name=RECONCILE_PROVIDER_PAYMENTS_JOB, workflow_id=workflow_id),
            result_type=int,
            start_to_close_timeout=BOOKKEEPING_TIMEOUT,
            retry_policy=BOOKKEEPING_RETRY,
        )
        day = (workflow.now() - timedelta(days=1)).date().isoformat()
        counts = JobCounts()
        failure: ActivityError | None = None
        try:
            outcome = await workflow.execute_activity(
                RECONCILE_PROVIDER_DAY,
                ProviderDay(day=day, workflow_id=workflow_id),
                result_type=ProviderDayOutcome,
                start_to_close_timeout=PROVIDER_TIMEOUT,
                retry_policy=PROVIDER_RETRY,
            )
            counts = JobCounts(
                seen=outcome.provider_transactions + outcome.ledger_operations,
                failed=outcome.mismatches,
                details={"run_id": outcome.run_id, "mismatches": outcome.mismatches},
            )
        except ActivityError as failed:
            failure = failed
        error = None if failure is None else str(failure.cause or failure)
        await workflow.execute_activity(
            FINISH_JOB_RUN,
            FinishJobRun(
                job_run_id=job_run_id,
                status="failed" if error else "succeeded",
                counts=counts,
                error=error,
            ),
            start_to_close_timeout=BOOKKEEPING_TIMEOUT,
            retry_policy=BOOKKEEPING_RETRY,
        )
        if failure is not None:
            raise failure
        return JobResult(
            job_name=RECONCILE_PROVIDER_PAYMENTS_JOB, job_run_id=job_run_id,
            status="succeeded", counts=counts,
        )  # fmt: skip
