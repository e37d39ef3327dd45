"""The safety-net jobs, started by Temporal Schedules.

LowBalanceCheckWorkflow (checkLowBalanceThresholds): records the low-balance notifications a
crossing is missing and wakes the relay, which also picks up events left pending or stuck.
AutoTopupCheckWorkflow (checkAutoTopupTriggers): signals the AutoTopupWorkflow of every wallet under
its policy threshold with no top-up in flight.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.balance_check_types import (
        AUTO_TOPUP_CHECK_WORKFLOW_NAME,
        LOW_BALANCE_CHECK_WORKFLOW_NAME,
        SWEEP_LOW_BALANCES,
        TRIGGER_DUE_TOPUPS,
        WAKE_OUTBOX_RELAY,
        DueTopups,
        DueTopupsInput,
        LowBalanceCheckInput,
        LowBalanceSweep,
        WakeRelayInput,
    )

JOB_TIMEOUT = timedelta(minutes=5)
JOB_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=5,
)


@workflow.defn(name=LOW_BALANCE_CHECK_WORKFLOW_NAME)
class LowBalanceCheckWorkflow:
    @workflow.run
    async def run(self, request: LowBalanceCheckInput | None = None) -> LowBalanceSweep:
        check = request or LowBalanceCheckInput()
        sweep: LowBalanceSweep = await workflow.execute_activity(
            SWEEP_LOW_BALANCES,
            result_type=LowBalanceSweep,
            start_to_close_timeout=JOB_TIMEOUT,
            retry_policy=JOB_RETRY,
        )
        if sweep.notifications_recorded or sweep.events_waiting:
            await workflow.execute_activity(
                WAKE_OUTBOX_RELAY,
                WakeRelayInput(relay_workflow_id=check.relay_workflow_id),
                start_to_close_timeout=JOB_TIMEOUT,
                retry_policy=JOB_RETRY,
            )
        return sweep


@workflow.defn(name=AUTO_TOPUP_CHECK_WORKFLOW_NAME)
class AutoTopupCheckWorkflow:
    @workflow.run
    async def run(self) -> DueTopups:
        started = workflow.info().start_time
        due: DueTopups = await workflow.execute_activity(
            TRIGGER_DUE_TOPUPS,
            DueTopupsInput(trigger_key=f"check-{started:%Y%m%dT%H%M%S}"),
            result_type=DueTopups,
            start_to_close_timeout=JOB_TIMEOUT,
            retry_policy=JOB_RETRY,
        )
        return due
