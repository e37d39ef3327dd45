"""generateMonthlyReports: store last month's report (revenue, purchases, subscriptions,
consumption, expiry) per organization, page by page of wallets, then the totals. A month's
complete report is never rewritten, so a second run changes nothing."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.finance_job_types import (
        BEGIN_MONTHLY_REPORT,
        CONCLUDE_MONTHLY_REPORT,
        GENERATE_MONTHLY_REPORTS_JOB,
        GENERATE_MONTHLY_REPORTS_WORKFLOW,
        MONTHLY_REPORT_BATCH,
        BeginMonthlyReport,
    )
    from workflows.job_types import JobCounts, JobInput, JobResult
    from workflows.wallet_job import BOOKKEEPING_RETRY, BOOKKEEPING_TIMEOUT, WalletJob


def previous_month(year: int, month: int) -> str:
    return f"{year - 1:04d}-12" if month == 1 else f"{year:04d}-{month - 1:02d}"


@workflow.defn(name=GENERATE_MONTHLY_REPORTS_WORKFLOW)
class GenerateMonthlyReportsWorkflow(WalletJob):
    job_name = GENERATE_MONTHLY_REPORTS_JOB
    batch_activity = MONTHLY_REPORT_BATCH

    @workflow.run
    async def run(self, job: JobInput | None = None) -> JobResult:
        return await self.run_job(job or JobInput())

    async def begin(self, job_run_id: int) -> int | None:
        """The report row of the month before today (UTC): every batch fills it."""
        today = workflow.now()
        report_id: int = await workflow.execute_activity(
            BEGIN_MONTHLY_REPORT,
            BeginMonthlyReport(
                month=previous_month(today.year, today.month),
                workflow_id=workflow.info().workflow_id,
            ),
            result_type=int,
            start_to_close_timeout=BOOKKEEPING_TIMEOUT,
            retry_policy=BOOKKEEPING_RETRY,
        )
        return report_id

    async def conclude(self, job_run_id: int, context_id: int | None, counts: JobCounts) -> None:
        await workflow.execute_activity(
            CONCLUDE_MONTHLY_REPORT,
            context_id,
            start_to_close_timeout=BOOKKEEPING_TIMEOUT,
            retry_policy=BOOKKEEPING_RETRY,
        )
