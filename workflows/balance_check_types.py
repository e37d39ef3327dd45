"""The safety-net jobs' contract: checkLowBalanceThresholds and checkAutoTopupTriggers."""

from pydantic import BaseModel

from workflows.job_types import JobInput
from workflows.outbox_types import OUTBOX_RELAY_WORKFLOW_ID

CHECK_LOW_BALANCE_THRESHOLDS_JOB = "checkLowBalanceThresholds"
CHECK_AUTO_TOPUP_TRIGGERS_JOB = "checkAutoTopupTriggers"
LOW_BALANCE_CHECK_WORKFLOW = "LowBalanceCheckWorkflow"
AUTO_TOPUP_CHECK_WORKFLOW = "AutoTopupCheckWorkflow"

SWEEP_LOW_BALANCES = "jobs.sweep_low_balances"
WAKE_OUTBOX_RELAY = "jobs.wake_outbox_relay"
TRIGGER_DUE_AUTO_TOPUPS = "jobs.trigger_due_auto_topups"


class LowBalanceCheckInput(JobInput):
    """The relay to wake; tests name one of their own, schedules use the default."""

    relay_workflow_id: str = OUTBOX_RELAY_WORKFLOW_ID


class WakeRelayInput(BaseModel):
    """Wake the relay when the sweep recorded alerts or events are waiting for it."""

    relay_workflow_id: str
    alerts_recorded: int = 0


class RelayWake(BaseModel):
    events_waiting: int
    woken: bool
