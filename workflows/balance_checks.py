"""The safety-net jobs, started by Temporal Schedules, in the shape of every job (WalletJob).

LowBalanceCheckWorkflow (checkLowBalanceThresholds): pages through the wallets recording the
low-balance notifications a crossing is missing, then wakes the relay, which also picks up events
left pending or stuck. AutoTopupCheckWorkflow (checkAutoTopupTriggers): pages through the wallets
signalling the AutoTopupWorkflow of every wallet under its policy threshold with no top-up in
flight.
"""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.balance_check_types import (
        AUTO_TOPUP_CHECK_WORKFLOW,
        CHECK_AUTO_TOPUP_TRIGGERS_JOB,
        CHECK_LOW_BALANCE_THRESHOLDS_JOB,
        LOW_BALANCE_CHECK_WORKFLOW,
        SWEEP_LOW_BALANCES,
        TRIGGER_DUE_AUTO_TOPUPS,
        WAKE_OUTBOX_RELAY,
        LowBalanceCheckInput,
        RelayWake,
        WakeRelayInput,
    )
    from workflows.job_types import JobCounts, JobInput, JobResult
    from workflows.wallet_job import BATCH_RETRY, BOOKKEEPING_TIMEOUT, WalletJob


@workflow.defn(name=LOW_BALANCE_CHECK_WORKFLOW)
class LowBalanceCheckWorkflow(WalletJob):
    job_name = CHECK_LOW_BALANCE_THRESHOLDS_JOB
    batch_activity = SWEEP_LOW_BALANCES

    def __init__(self) -> None:
        self._relay_workflow_id = LowBalanceCheckInput().relay_workflow_id

    @workflow.run
    async def run(self, job: LowBalanceCheckInput | None = None) -> JobResult:
        job = job or LowBalanceCheckInput()
        self._relay_workflow_id = job.relay_workflow_id
        return await self.run_job(job)

    async def conclude(
        self, job_run_id: int, context_id: int | None, counts: JobCounts
    ) -> JobCounts | None:
        """Wake the relay when anything waits for it: the alerts just recorded, or events left
        pending or stuck by a lost relay."""
        wake: RelayWake = await workflow.execute_activity(
            WAKE_OUTBOX_RELAY,
            WakeRelayInput(
                relay_workflow_id=self._relay_workflow_id,
                alerts_recorded=counts.details.get("alerts_recorded", 0),
            ),
            result_type=RelayWake,
            start_to_close_timeout=BOOKKEEPING_TIMEOUT,
            retry_policy=BATCH_RETRY,
        )
        return JobCounts(
            details={"events_waiting": wake.events_waiting, "relay_woken": int(wake.woken)}
        )


@workflow.defn(name=AUTO_TOPUP_CHECK_WORKFLOW)
class AutoTopupCheckWorkflow(WalletJob):
    job_name = CHECK_AUTO_TOPUP_TRIGGERS_JOB
    batch_activity = TRIGGER_DUE_AUTO_TOPUPS

    @workflow.run
    async def run(self, job: JobInput | None = None) -> JobResult:
        return await self.run_job(job)
