"""updateUsageForecasts: a usage forecast per wallet for today."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.job_types import JobInput, JobResult
    from workflows.operations_job_types import (
        FORECAST_BATCH,
        UPDATE_USAGE_FORECASTS_JOB,
        UPDATE_USAGE_FORECASTS_WORKFLOW,
    )
    from workflows.wallet_job import WalletJob


@workflow.defn(name=UPDATE_USAGE_FORECASTS_WORKFLOW)
class UpdateUsageForecastsWorkflow(WalletJob):
    job_name = UPDATE_USAGE_FORECASTS_JOB
    batch_activity = FORECAST_BATCH

    @workflow.run
    async def run(self, job: JobInput | None = None) -> JobResult:
        return await self.run_job(job)
