"""AutoTopupWorkflow: one per wallet (`auto-topup-<wallet>`), buying tokens when a trigger asks.

Triggers arrive by signal (signal-with-start from the relay, the check job and the API) or from
the workflow's own timers (the policy's schedule, retries after a failed payment, the end of a
cooldown). Every trigger is evaluated by an activity against the policy, the balance, the caps
and the cooldown; a purchase is a child PurchaseWorkflow of kind auto_topup. Triggers that arrive
while a top-up is in flight are coalesced: afterwards one evaluation sees the new balance, so a
burst of crossings yields one top-up.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import (
    RetryPolicy,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ChildWorkflowError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from domain.durations import next_cycle, parse_interval, period_start
    from workflows.auto_topup_types import (
        AUTO_TOPUP_WORKFLOW,
        EVALUATE_TRIGGER,
        PURCHASE_OUTCOME,
        RECORD_OUTCOME,
        STATE_QUERY,
        TRIGGER_SIGNAL,
        AutoTopupInput,
        AutoTopupState,
        AutoTopupSummary,
        EvaluateInput,
        PolicySchedule,
        RecordedOutcome,
        RecordOutcomeInput,
        ScheduledWake,
        TopupDecision,
        TopupTrigger,
    )
    from workflows.purchase_types import (
        PURCHASE_WORKFLOW,
        PurchaseInput,
        PurchaseResult,
        purchase_workflow_id,
    )
    from workflows.search_attributes import ORGANIZATION_ID, PURCHASE_REFERENCE
    from workflows.utc_stamps import utc_compact

DATABASE_TIMEOUT = timedelta(seconds=30)
ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=0,
)
# With nothing scheduled the workflow waits this long for another trigger, then completes;
# the next signal-with-start begins a new run.
IDLE_LINGER = timedelta(minutes=10)
MAX_HISTORY_EVENTS = 2_000
BALANCE_TRIGGERS = ("threshold", "check", "policy_changed")


@workflow.defn(name=AUTO_TOPUP_WORKFLOW)
class AutoTopupWorkflow:
    def __init__(self) -> None:
        self._pending: list[TopupTrigger] = []
        self._wakes: list[ScheduledWake] = []
        self._in_flight = 0
        self._topups_started = 0

    @workflow.signal(name=TRIGGER_SIGNAL)
    def trigger(self, trigger: TopupTrigger) -> None:
        self._pending.append(trigger)

    @workflow.query(name=STATE_QUERY)
    def state(self) -> AutoTopupState:
        return AutoTopupState(
            in_flight=self._in_flight,
            topups_started=self._topups_started,
            pending_triggers=len(self._pending),
            next_wake=min((wake.at for wake in self._wakes), default=None),
        )

    @workflow.run
    async def run(self, request: AutoTopupInput) -> AutoTopupSummary:
        # Signals delivered with the start are already in _pending: keep them after the carried.
        self._pending[:0] = request.pending
        self._wakes = list(request.wakes)
        self._topups_started = request.topups_started
        while True:
            self._collect_due_wakes()
            if not self._pending:
                if self._history_is_long():
                    workflow.continue_as_new(
                        AutoTopupInput(
                            wallet_id=request.wallet_id,
                            organization_id=request.organization_id,
                            wakes=self._wakes,
                            topups_started=self._topups_started,
                        )
                    )
                if not await self._wait_for_work():
                    return self._summary("idle")
                continue
            for trigger in self._take_triggers():
                stopped = await self._handle(request, trigger)
                if stopped is not None:
                    return self._summary(stopped)

    async def _wait_for_work(self) -> bool:
        """Wait for a signal or the next timer; False when idle with nothing scheduled."""
        now = workflow.now()
        timeout = min((wake.at - now for wake in self._wakes), default=IDLE_LINGER)
        try:
            await workflow.wait_condition(
                lambda: bool(self._pending), timeout=max(timeout, timedelta(seconds=1))
            )
        except TimeoutError:
            return bool(self._wakes)
        return True

    def _collect_due_wakes(self) -> None:
        now = workflow.now()
        due = [wake for wake in self._wakes if wake.at <= now]
        self._wakes = [wake for wake in self._wakes if wake.at > now]
        self._pending.extend(wake.trigger for wake in sorted(due, key=lambda wake: wake.at))

    def _take_triggers(self) -> list[TopupTrigger]:
        """Every schedule slot once, but only the latest balance trigger: it sees the balance
        after whatever the others would have bought."""
        taken, self._pending = self._pending, []
        slots: list[TopupTrigger] = []
        for trigger in taken:
            if trigger.kind == "schedule" and trigger not in slots:
                slots.append(trigger)
        balance = [trigger for trigger in taken if trigger.kind in BALANCE_TRIGGERS]
        buying = [trigger for trigger in balance if trigger.kind != "policy_changed"]
        latest = (buying or balance)[-1:]
        return latest + slots

    async def _handle(self, request: AutoTopupInput, trigger: TopupTrigger) -> str | None:
        """Evaluate one trigger and buy if the policy says so; a reason when the workflow stops."""
        decision = await workflow.execute_activity(
            EVALUATE_TRIGGER,
            EvaluateInput(
                wallet_id=request.wallet_id,
                organization_id=request.organization_id,
                trigger=trigger,
            ),
            result_type=TopupDecision,
            start_to_close_timeout=DATABASE_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )
        if decision.action == "stop":
            self._wakes = []
            return decision.reason or "stopped"
        self._arm_schedule(decision.schedule)
        if decision.action == "skip":
            if decision.cooldown_until is not None and trigger.kind in ("threshold", "check"):
                self._arm(
                    ScheduledWake(
                        at=decision.cooldown_until,
                        purpose="cooldown",
                        trigger=TopupTrigger(
                            kind="check", key=f"cooldown-{utc_compact(decision.cooldown_until)}"
                        ),
                    )
                )
            return None
        if decision.purchase is None or decision.topup_id is None:
            raise RuntimeError("a purchase decision without its purchase")
        result = await self._buy(decision.purchase)
        recorded = await workflow.execute_activity(
            RECORD_OUTCOME,
            RecordOutcomeInput(
                topup_id=decision.topup_id,
                wallet_id=request.wallet_id,
                organization_id=request.organization_id,
                trigger=trigger,
                result=result,
            ),
            result_type=RecordedOutcome,
            start_to_close_timeout=DATABASE_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )
        if recorded.suspended:
            self._wakes = []
            return "suspended"
        if recorded.retry_after is not None:
            retry_kind = "schedule" if trigger.kind == "schedule" else "check"
            base_key = trigger.key.split(":retry-")[0]
            self._arm(
                ScheduledWake(
                    at=workflow.now() + recorded.retry_after,
                    purpose="retry",
                    trigger=TopupTrigger(
                        kind=retry_kind, key=f"{base_key}:retry-{recorded.consecutive_failures}"
                    ),
                )
            )
        return None

    async def _buy(self, purchase: PurchaseInput) -> PurchaseResult:
        """Run the purchase as a child and answer how it ended. A purchase an earlier run of this
        wallet's workflow already started is waited for, so its outcome is recorded too (the
        cooldown and the failure count depend on it)."""
        reference = purchase.purchase_reference_id
        self._in_flight += 1
        try:
            child = await workflow.start_child_workflow(
                PURCHASE_WORKFLOW,
                purchase,
                id=purchase_workflow_id(reference),
                result_type=PurchaseResult,
                # The purchase finishes even if this workflow is terminated mid-way.
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(ORGANIZATION_ID, str(purchase.organization_id)),
                        SearchAttributePair(PURCHASE_REFERENCE, reference),
                    ]
                ),
            )
            self._topups_started += 1
            result: PurchaseResult = await child
        except WorkflowAlreadyStartedError:
            workflow.logger.info(
                "top-up purchase %s was started earlier: waiting for it", reference
            )
            return await self._outcome_of_earlier_purchase(reference)
        except ChildWorkflowError as error:
            cause = error.cause
            return PurchaseResult(
                purchase_reference_id=reference,
                status="failed",
                failure_reason=str(cause) if cause is not None else str(error),
            )
        finally:
            self._in_flight -= 1
        return result

    @staticmethod
    async def _outcome_of_earlier_purchase(reference: str) -> PurchaseResult:
        """The purchase's row once it has finished (the activity is retried until it has)."""
        outcome: PurchaseResult = await workflow.execute_activity(
            PURCHASE_OUTCOME,
            reference,
            result_type=PurchaseResult,
            start_to_close_timeout=DATABASE_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )
        return outcome

    def _arm_schedule(self, schedule: PolicySchedule | None) -> None:
        self._wakes = [wake for wake in self._wakes if wake.purpose != "schedule"]
        if schedule is None:
            return
        interval = parse_interval(schedule.interval)
        cycle = next_cycle(schedule.anchor, interval, workflow.now(), inclusive=False)
        at = period_start(schedule.anchor, interval, cycle)
        self._arm(
            ScheduledWake(
                at=at,
                purpose="schedule",
                trigger=TopupTrigger(kind="schedule", key=f"schedule-{utc_compact(at)}"),
            )
        )

    def _arm(self, wake: ScheduledWake) -> None:
        if all(existing.trigger != wake.trigger for existing in self._wakes):
            self._wakes.append(wake)

    def _summary(self, stopped_because: str) -> AutoTopupSummary:
        return AutoTopupSummary(
            topups_started=self._topups_started, stopped_because=stopped_because
        )

    @staticmethod
    def _history_is_long() -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= MAX_HISTORY_EVENTS
        )
