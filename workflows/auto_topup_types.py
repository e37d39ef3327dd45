"""AutoTopupWorkflow's contract: its id, signal, query, activities and payloads."""

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel

from workflows.purchase_types import PurchaseInput, PurchaseResult

AUTO_TOPUP_WORKFLOW = "AutoTopupWorkflow"
TRIGGER_SIGNAL = "trigger"
STATE_QUERY = "state"
EVALUATE_TRIGGER = "auto_topup.evaluate_trigger"
RECORD_OUTCOME = "auto_topup.record_outcome"
PURCHASE_OUTCOME = "auto_topup.purchase_outcome"
# The purchase an earlier run started has not finished yet: retried until it has.
PURCHASE_STILL_RUNNING = "PurchaseStillRunning"

# threshold: a spend crossed the policy threshold (the outbox event); check: the safety-net job
# found the wallet under it; schedule: the policy's interval came round; policy_changed: re-read.
TriggerKind = Literal["threshold", "check", "schedule", "policy_changed"]
WakePurpose = Literal["schedule", "retry", "cooldown"]
DecisionAction = Literal["purchase", "skip", "stop"]


def auto_topup_workflow_id(wallet_id: int) -> str:
    return f"auto-topup-{wallet_id}"


def topup_key(wallet_id: int, trigger_key: str) -> str:
    """The business key of one trigger: `topup:<wallet>:<trigger>`."""
    return f"topup:{wallet_id}:{trigger_key}"


class TopupTrigger(BaseModel):
    kind: TriggerKind
    key: str


class ScheduledWake(BaseModel):
    """A timer the workflow keeps: the trigger it fires when it comes due."""

    at: datetime
    purpose: WakePurpose
    trigger: TopupTrigger


class AutoTopupInput(BaseModel):
    """Carried across continue-as-new: triggers not yet handled and the timers still armed."""

    wallet_id: int
    organization_id: int
    pending: list[TopupTrigger] = []
    wakes: list[ScheduledWake] = []
    topups_started: int = 0


class EvaluateInput(BaseModel):
    wallet_id: int
    organization_id: int
    trigger: TopupTrigger


class PolicySchedule(BaseModel):
    interval: str
    anchor: datetime


class TopupDecision(BaseModel):
    """What to do about a trigger; `purchase` means its pending token_purchases row exists."""

    action: DecisionAction
    reason: str | None = None
    topup_id: int | None = None
    purchase: PurchaseInput | None = None
    schedule: PolicySchedule | None = None
    cooldown_until: datetime | None = None


class RecordOutcomeInput(BaseModel):
    topup_id: int
    wallet_id: int
    organization_id: int
    trigger: TopupTrigger
    result: PurchaseResult


class RecordedOutcome(BaseModel):
    consecutive_failures: int
    suspended: bool
    retry_after: timedelta | None = None


class AutoTopupState(BaseModel):
    in_flight: int
    topups_started: int
    pending_triggers: int
    next_wake: datetime | None


class AutoTopupSummary(BaseModel):
    topups_started: int
    stopped_because: str
