"""SubscriptionWorkflow: one run per billing cycle, continued as new after each paid period.

A run sleeps to the period's start (a renewal reminder before it), charges, then credits the
tokens and issues the paid invoice. A failed charge makes the subscription past_due: the period's
invoice stays open, retries follow the dunning schedule inside the grace period, a new payment
method retries at once, and a hard decline waits for one. Unpaid at the end of grace, the
subscription is suspended (no tokens, no charges) until resumed with a working payment method,
and cancelled after a further period. Commands are updates (validated, answered); the safety net
nudges a run with the check_billing signal.

A pause or period-end cancel accepted while a charge is in flight lets that attempt finish: paid,
the period is credited; declined, nothing more is attempted (a cancel ends the subscription and
voids the open invoice, a pause keeps the invoice open until a resume retries it). Ended, every
open invoice of the subscription is voided, and a run never revives a cancelled row.
"""

from datetime import datetime, timedelta
from typing import Literal, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.durations import next_cycle, parse_interval, period_start
    from workflows.payment_action import CustomerAction
    from workflows.payment_action_types import (
        PAYMENT_ACTION_QUERY,
        PAYMENT_CONFIRMED_SIGNAL,
        PAYMENT_FAILED_SIGNAL,
        REQUIRES_ACTION_PATCH,
        PaymentAction,
        PaymentConfirmation,
        PaymentFailure,
    )
    from workflows.search_attributes import NEXT_BILLING_DATE, SUBSCRIPTION_STATUS
    from workflows.subscription_activity_types import (
        CHARGE_PERIOD,
        CREDIT_PERIOD,
        INVOICE_PERIOD,
        INVOICE_REFUSED,
        LEDGER_REFUSED,
        NOTIFY,
        RECORD_FAILED_CHARGE,
        RECORD_PAYMENT,
        SUBSCRIPTION_NOT_FOUND,
        SYNC_SUBSCRIPTION,
        VOID_OPEN_INVOICES,
        VOID_PERIOD,
        ChargeAttempt,
        CreditResult,
        FailedCharge,
        InvoiceResult,
        Notification,
        PaidPeriod,
        PeriodBill,
        SubscriptionNoticeKind,
        SyncRequest,
        SyncResult,
        VoidOpenInvoices,
        VoidPeriod,
        period_key,
    )
    from workflows.subscription_types import (
        CANCEL_UPDATE,
        CHANGE_PACKAGE_UPDATE,
        CHECK_BILLING_SIGNAL,
        PAUSE_UPDATE,
        RESUME_UPDATE,
        STATE_QUERY,
        SUBSCRIPTION_WORKFLOW,
        UPDATE_PAYMENT_METHOD_UPDATE,
        CancelRequest,
        CancelResult,
        ChangePackageRequest,
        ChangePackageResult,
        CommandResult,
        PackageTerms,
        PaymentMethodRequest,
        ResumeRequest,
        SubscriptionOutcome,
        SubscriptionRun,
        SubscriptionState,
        SubscriptionStatus,
    )

DATABASE_TIMEOUT = timedelta(seconds=30)
GATEWAY_TIMEOUT = timedelta(seconds=60)
# Bookkeeping must happen eventually: retried until it succeeds, unless retrying cannot help.
DATABASE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=0,
    non_retryable_error_types=[SUBSCRIPTION_NOT_FOUND, LEDGER_REFUSED, INVOICE_REFUSED],
)
# A charge attempt is only ever retried with its own key, for as long as the gateway is silent;
# a decline is an answer (data), not an error.
CHARGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=0,
    non_retryable_error_types=[SUBSCRIPTION_NOT_FOUND],
)
T = TypeVar("T")
# What the row last received: the state and the terms (a package chosen again at a new price
# changes the terms alone).
Published = tuple[SubscriptionState, PackageTerms, PackageTerms | None]


@workflow.defn(name=SUBSCRIPTION_WORKFLOW)
class SubscriptionWorkflow:
    @workflow.init
    def __init__(self, run: SubscriptionRun) -> None:
        self._run = run.model_copy(deep=True)
        self._interval = parse_interval(run.billing_interval)
        self._status: SubscriptionStatus = run.status
        self._started = workflow.now()
        self._bill: PeriodBill | None = None
        self._dunning_attempt = run.dunning_attempt
        self._last_error: str | None = run.last_payment_error
        self._hard_declined = False
        self._grace_ends_at: datetime | None = run.grace_period_ends_at
        self._retries: list[datetime] = []
        self._next_retry_at: datetime | None = None
        # After a resume with an unpaid period: the first cycle billed once that period is paid,
        # so billing dates that passed while paused are skipped.
        self._resume_cycle = 0
        self._row_cancelled = False
        self._charging = False
        self._reminded = False
        self._cancel_now = False
        self._cancelled_at: datetime | None = None
        self._retry_now = False
        self._resume_request: ResumeRequest | None = None
        self._resume_answer: CommandResult | None = None
        self._attention = False
        self._published: Published | None = None
        # A declined charge the customer can still complete (3-D Secure), and the signals.
        self._customer = CustomerAction()

    # --- The cycle --------------------------------------------------------------------------

    @workflow.run
    async def run(self, run: SubscriptionRun) -> SubscriptionOutcome:
        await self._publish()
        if self._cancel_now:
            carry_on = False
        elif self._status == "suspended":
            carry_on = await self._while_suspended()
        elif self._run.unpaid_period_start is not None:
            carry_on = await self._go_on_dunning(self._run.unpaid_period_start)
        else:
            carry_on = await self._bill_next_period()
        if not carry_on or self._cancel_now:
            return await self._end()
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._next_run())

    async def _bill_next_period(self) -> bool:
        """Wait for the period's start, then bill it; False when the subscription ends instead."""
        while True:
            if self._cancel_now:
                return False
            if self._status == "paused":
                await self._wait(None)
                continue
            now = workflow.now()
            start = self._start(self._run.cycle)
            if now >= start:
                if self._run.cancel_at_period_end:
                    return False
                break
            remind_at = self._reminder_time(start)
            if remind_at is not None and now >= remind_at:
                await self._remind(start)
                continue
            await self._wait(remind_at or start)
        bill = self._new_bill(start, self._start(self._run.cycle + 1))
        return await self._after_collecting(await self._collect(bill))

    async def _go_on_dunning(self, unpaid_period_start: datetime) -> bool:
        """A rebuilt run owing a period: dun that period on, with its attempts and grace."""
        self._bill = self._period_bill(
            unpaid_period_start, self._start(self._run.cycle + 1), self._run.dunning_attempt
        )
        self._run.unpaid_period_start = None
        if self._status == "past_due":
            grace_ends_at = self._grace_ends_at or workflow.now() + self._run.policy.grace_period
            self._schedule_dunning(grace_ends_at - self._run.policy.grace_period)
            # Attempt n was the (n-1)th retry: the retries left are those after it.
            del self._retries[: max(0, self._run.dunning_attempt - 1)]
            self._grace_ends_at = grace_ends_at
        return await self._after_collecting(await self._dun())

    async def _after_collecting(self, outcome: str) -> bool:
        if outcome == "suspended":
            return await self._while_suspended()
        return outcome == "paid"

    async def _collect(self, bill: PeriodBill) -> str:
        """Charge the period; on failure, dun inside the grace period. paid, suspended or ended."""
        self._bill = bill
        charge = await self._charge(bill)
        if charge.paid:
            await self._fulfil(bill, charge)
            return "paid"
        if self._status != "paused":
            self._status = "past_due"
            self._schedule_dunning(workflow.now())
        await self._declined(bill, charge)
        return await self._dun()

    def _schedule_dunning(self, failed_at: datetime) -> None:
        """Grace and retries count from the first failure (or from a resume that retries)."""
        self._grace_ends_at = failed_at + self._run.policy.grace_period
        self._retries = [
            failed_at + offset
            for offset in sorted(self._run.policy.dunning_schedule)
            if failed_at + offset < self._grace_ends_at
        ]

    async def _dun(self) -> str:
        """Retry the open period until it is paid, grace ends, or the subscription ends. A
        cancel or pause acknowledged while its charge was in flight stops every further attempt."""
        while True:
            if self._cancel_now or self._run.cancel_at_period_end:
                return "ended"
            if self._status == "paused":
                await self._wait(None)
                continue
            if self._customer_completed():
                if await self._charge_again():
                    return "paid"
                continue
            if self._retry_now:
                self._retry_now = False
                if await self._retry():
                    return "paid"
                continue
            now = workflow.now()
            assert self._grace_ends_at is not None and self._bill is not None
            if now >= self._grace_ends_at:
                await self._suspend(self._bill)
                return "suspended"
            if self._hard_declined:
                # The card cannot win: let the scheduled retries pass and wait for a new method.
                self._retries = [moment for moment in self._retries if moment > now]
                self._next_retry_at = None
            else:
                self._next_retry_at = self._retries[0] if self._retries else None
            if self._next_retry_at is not None and now >= self._next_retry_at:
                self._retries.pop(0)
                if await self._retry():
                    return "paid"
                continue
            await self._wait(self._next_retry_at or self._grace_ends_at)

    async def _retry(self) -> bool:
        """One more attempt, with the current payment method and the next attempt's own key."""
        assert self._bill is not None
        self._bill = self._bill.model_copy(
            update={"attempt": self._bill.attempt + 1, "payment_method": self._run.payment_method}
        )
        charge = await self._charge(self._bill)
        if charge.paid:
            await self._fulfil(self._bill, charge)
            return True
        await self._declined(self._bill, charge)
        return False

    def _customer_completed(self) -> bool:
        """The customer completed the payment the last attempt waited for (its signal came)."""
        action = self._customer.action
        if action is None or action.payment_reference not in self._customer.confirmed_payments:
            return False
        self._customer.action = None
        return True

    async def _charge_again(self) -> bool:
        """The same attempt, with its own key: the processor answers the payment completed."""
        assert self._bill is not None
        charge = await self._charge(self._bill)
        if charge.paid:
            await self._fulfil(self._bill, charge)
            return True
        await self._declined(self._bill, charge)
        return False

    async def _while_suspended(self) -> bool:
        """No tokens, no charges: wait for a resume that pays, or cancel when the time is up."""
        if self._run.suspended_at is None:
            self._run.suspended_at = workflow.now()
        deadline = self._run.suspended_at + self._run.policy.cancel_after_suspension
        while True:
            if self._cancel_now:
                return False
            if self._resume_request is not None:
                if await self._resume_from_suspension(self._resume_request):
                    return True
                continue
            if workflow.now() >= deadline:
                return False
            await self._wait(deadline)

    async def _resume_from_suspension(self, request: ResumeRequest) -> bool:
        """Charge a fresh period starting now; paid, the subscription is active on a new anchor."""
        if request.payment_method is not None:
            self._run.payment_method = request.payment_method
        now = workflow.now()
        bill = self._new_bill(now, period_start(now, self._interval, 1))
        self._bill = bill
        charge = await self._charge(bill)
        if not charge.paid:
            self._bill = None
            self._resume_request = None
            self._last_error = charge.message
            self._resume_answer = CommandResult(
                status="suspended",
                next_billing_date=None,
                message=f"The charge to resume was declined: {charge.message}",
            )
            await self._publish()
            return False
        if self._run.unpaid_period_start is not None:
            await self._void(self._run.unpaid_period_start, "replaced by the resumed subscription")
        self._run.anchor, self._run.cycle = now, 0
        self._run.suspended_at = self._run.unpaid_period_start = None
        self._status = "active"
        await self._fulfil(bill, charge)
        await self._notify("subscription.resumed", bill.period_start, {"resumed_at": now})
        self._resume_request = None
        self._resume_answer = CommandResult(
            status="active",
            next_billing_date=self._start(self._run.cycle),
            message="The subscription is active again; this period was charged and credited.",
        )
        return True

    async def _end(self) -> SubscriptionOutcome:
        """Cancelled: every open invoice is voided (an unpaid period is never charged again)."""
        self._cancelled_at = workflow.now()
        await self._db(
            VOID_OPEN_INVOICES,
            VoidOpenInvoices(
                subscription_id=self._run.subscription_id,
                organization_id=self._run.organization_id,
                reason="the subscription was cancelled",
            ),
            type(None),
        )
        self._status = "cancelled"
        self._bill = None
        self._run.unpaid_period_start = None
        self._next_retry_at = self._grace_ends_at = None
        if not self._row_cancelled:  # whoever cancelled the row elsewhere has said so
            await self._notify(
                "subscription.cancelled", self._cancelled_at, {"cancelled_at": self._cancelled_at}
            )
        await self._publish()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return SubscriptionOutcome(
            subscription_id=self._run.subscription_id,
            status="cancelled",
            cancelled_at=self._cancelled_at,
        )

    # --- Steps ------------------------------------------------------------------------------

    async def _charge(self, bill: PeriodBill) -> ChargeAttempt:
        self._charging = True
        try:
            charge: ChargeAttempt = await workflow.execute_activity(
                CHARGE_PERIOD,
                bill,
                result_type=ChargeAttempt,
                start_to_close_timeout=GATEWAY_TIMEOUT,
                retry_policy=CHARGE_RETRY,
            )
        finally:
            self._charging = False
        return charge

    async def _fulfil(self, bill: PeriodBill, charge: ChargeAttempt) -> None:
        """Credit, invoice (paid), record; then the period is the current one."""
        assert charge.charge_reference is not None
        credit = await self._db(CREDIT_PERIOD, bill, CreditResult)
        invoice = await self._db(INVOICE_PERIOD, bill, InvoiceResult)
        await self._db(
            RECORD_PAYMENT,
            PaidPeriod(
                bill=bill,
                charge_reference=charge.charge_reference,
                invoice_id=invoice.invoice_id,
                invoice_number=invoice.invoice_number,
                balance_after=credit.balance_after,
                paid_at=workflow.now(),
            ),
            type(None),
        )
        self._run.current_period_start = bill.period_start
        self._run.current_period_end = bill.period_end
        self._run.cycle = max(self._run.cycle + 1, self._resume_cycle)
        self._resume_cycle = 0
        if self._status == "past_due":
            self._status = "active"
        self._bill = None
        self._retry_now = False
        self._dunning_attempt = 0
        self._last_error = None
        self._hard_declined = False
        self._customer.action = None
        self._grace_ends_at = self._next_retry_at = None
        await self._publish()

    async def _declined(self, bill: PeriodBill, charge: ChargeAttempt) -> None:
        self._customer.action = None
        if charge.action is not None and workflow.patched(REQUIRES_ACTION_PATCH):
            self._customer.action = charge.action  # dunning goes on; the customer may finish it
        self._dunning_attempt = bill.attempt
        self._last_error = charge.message
        self._hard_declined = charge.hard
        # Paused, grace has not started; the open invoice is still due a grace period from now.
        due = self._grace_ends_at or workflow.now() + self._run.policy.grace_period
        await self._db(
            RECORD_FAILED_CHARGE,
            FailedCharge(bill=bill, charge=charge, grace_period_ends_at=due),
            type(None),
        )
        await self._publish()

    async def _suspend(self, bill: PeriodBill) -> None:
        self._status = "suspended"
        self._resume_cycle = 0  # a resume from suspension bills on a new anchor
        self._run.suspended_at = workflow.now()
        self._run.unpaid_period_start = bill.period_start
        self._next_retry_at = self._grace_ends_at = None
        await self._notify(
            "subscription.suspended",
            bill.period_start,
            {"suspended_at": self._run.suspended_at, "last_payment_error": self._last_error},
            severity="critical",
        )
        await self._publish()

    async def _remind(self, start: datetime) -> None:
        self._reminded = True
        await self._notify(
            "subscription.renewal_reminder",
            start,
            {"billing_date": start, "package_id": self._upcoming_terms().package_id},
        )

    async def _void(self, unpaid_period_start: datetime, reason: str) -> None:
        await self._db(
            VOID_PERIOD,
            VoidPeriod(
                subscription_id=self._run.subscription_id,
                organization_id=self._run.organization_id,
                period_start=unpaid_period_start,
                reason=reason,
            ),
            type(None),
        )

    async def _notify(
        self,
        event: SubscriptionNoticeKind,
        moment: datetime,
        payload: dict[str, datetime | str | int | None],
        *,
        severity: Literal["info", "warning", "critical"] = "info",
    ) -> None:
        key = f"{period_key(self._run.subscription_id, moment)}:{event}"
        await self._db(
            NOTIFY,
            Notification(
                subscription_id=self._run.subscription_id,
                organization_id=self._run.organization_id,
                wallet_id=self._run.wallet_id,
                event_type=event,
                idempotency_key=key,
                severity=severity,
                payload={
                    "subscription_id": self._run.subscription_id,
                    **{
                        k: v.isoformat() if isinstance(v, datetime) else v
                        for k, v in payload.items()
                    },
                },
            ),
            type(None),
        )

    async def _publish(self) -> None:
        """Mirror the state into the row and the search attributes, when it changed."""
        state = self.state()
        published = (state, self._run.terms, self._run.next_terms)
        if published == self._published:
            return
        workflow.upsert_search_attributes(
            [
                SUBSCRIPTION_STATUS.value_set(state.status),
                NEXT_BILLING_DATE.value_set(state.next_billing_date)
                if state.next_billing_date is not None
                else NEXT_BILLING_DATE.value_unset(),
            ]
        )
        synced = await self._db(
            SYNC_SUBSCRIPTION,
            SyncRequest(
                state=state,
                terms=self._run.terms,
                next_terms=self._run.next_terms,
                organization_id=self._run.organization_id,
                anchor=self._run.anchor,
                cycle=self._run.cycle,
                cancelled_at=self._cancelled_at,
            ),
            SyncResult,
        )
        self._published = published
        if synced.row_cancelled and self._status != "cancelled":
            # Cancelled while this run was not looking (a stale restart, a cancel without a
            # workflow): the row stays cancelled and the run ends without charging.
            self._row_cancelled = self._cancel_now = self._attention = True

    async def _db(self, activity: str, argument: object, result: type[T]) -> T:
        """A short database step: a local activity (no round trip through the server per step)."""
        outcome: T = await workflow.execute_local_activity(
            activity,
            argument,
            result_type=result,
            start_to_close_timeout=DATABASE_TIMEOUT,
            retry_policy=DATABASE_RETRY,
        )
        return outcome

    async def _wait(self, until: datetime | None) -> None:
        """Sleep until `until` (or until a command arrives), then publish what commands changed."""
        self._attention = False
        if until is None:
            await workflow.wait_condition(lambda: self._attention)
        else:
            delay = until - workflow.now()
            if delay > timedelta(0):
                try:
                    await workflow.wait_condition(lambda: self._attention, timeout=delay)
                except TimeoutError:
                    pass
        await self._publish()

    # --- Dates ------------------------------------------------------------------------------

    def _start(self, cycle: int) -> datetime:
        return period_start(self._run.anchor, self._interval, cycle)

    def _reminder_time(self, start: datetime) -> datetime | None:
        """When to remind of the charge at `start`: never twice, never when no renewal comes,
        and only when the lead is shorter than the period and the time was still ahead."""
        lead = self._run.policy.reminder_lead
        period = self._start(self._run.cycle + 1) - start
        if self._reminded or self._run.cancel_at_period_end or not timedelta(0) < lead < period:
            return None
        remind_at = start - lead
        return remind_at if remind_at >= self._started else None

    def _upcoming_terms(self) -> PackageTerms:
        return self._run.next_terms or self._run.terms

    def _new_bill(self, start: datetime, end: datetime) -> PeriodBill:
        """A period billed for the first time: a package change waiting for it applies now."""
        if self._run.next_terms is not None:
            self._run.terms, self._run.next_terms = self._run.next_terms, None
        return self._period_bill(start, end, 1)

    def _period_bill(self, start: datetime, end: datetime, attempt: int) -> PeriodBill:
        return PeriodBill(
            subscription_id=self._run.subscription_id,
            organization_id=self._run.organization_id,
            wallet_id=self._run.wallet_id,
            period_start=start,
            period_end=end,
            terms=self._run.terms,
            tax_rate=self._run.tax_rate,
            payment_method=self._run.payment_method,
            attempt=attempt,
            actor_user_id=self._run.actor_user_id,
        )

    def _next_billing_date(self) -> datetime | None:
        if self._status == "past_due":
            return self._next_retry_at
        if self._status != "active" or self._run.cancel_at_period_end or self._bill is not None:
            return None
        return self._start(self._run.cycle)

    def _next_run(self) -> SubscriptionRun:
        """Continued as new only with nothing owed: the dunning fields start empty."""
        status = "paused" if self._status == "paused" else "active"
        return self._run.model_copy(
            update={
                "status": status,
                "unpaid_period_start": None,
                "dunning_attempt": 0,
                "grace_period_ends_at": None,
                "last_payment_error": None,
            }
        )

    # --- Queries and commands ----------------------------------------------------------------

    @workflow.query(name=STATE_QUERY)
    def state(self) -> SubscriptionState:
        return SubscriptionState(
            subscription_id=self._run.subscription_id,
            status=self._status,
            package_id=self._run.terms.package_id,
            next_package_id=None
            if self._run.next_terms is None
            else self._run.next_terms.package_id,
            payment_method=self._run.payment_method,
            billing_interval=self._run.billing_interval,
            current_period_start=self._run.current_period_start,
            current_period_end=self._run.current_period_end,
            next_billing_date=self._next_billing_date(),
            cancel_at_period_end=self._run.cancel_at_period_end,
            dunning_attempt=self._dunning_attempt,
            last_payment_error=self._last_error,
            grace_period_ends_at=self._grace_ends_at,
            suspended_at=self._run.suspended_at,
            cancelled_at=self._cancelled_at,
        )

    @workflow.query(name=PAYMENT_ACTION_QUERY)
    def payment_action(self) -> PaymentAction | None:
        """What the customer must do to pay the open period (3-D Secure), if anything."""
        return self._customer.action

    @workflow.signal(name=PAYMENT_CONFIRMED_SIGNAL)
    def payment_confirmed(self, confirmation: PaymentConfirmation) -> None:
        """The customer completed the payment: the open period is charged again with its key."""
        self._customer.confirmed(confirmation)
        self._attention = True

    @workflow.signal(name=PAYMENT_FAILED_SIGNAL)
    def payment_failed(self, failure: PaymentFailure) -> None:
        """The customer's authentication failed; dunning goes on as for any soft decline."""
        self._customer.failed(failure)

    @workflow.signal(name=CHECK_BILLING_SIGNAL)
    def check_billing(self) -> None:
        """The safety net's nudge: look at the clock again (timers normally do this)."""
        self._attention = True

    def _refuse_when_ended(self) -> None:
        if self._status == "cancelled" or self._cancel_now:
            raise ApplicationError("The subscription is cancelled.", type="SubscriptionCancelled")

    @workflow.update(name=CANCEL_UPDATE)
    async def cancel(self, request: CancelRequest) -> CancelResult:
        now = workflow.now()
        if request.when == "period_end" and self._status == "active":
            self._run.cancel_at_period_end = True
            self._attention = True
            return CancelResult(
                status="active", cancel_at_period_end=True, effective_at=self._period_end(now)
            )
        self._cancel_now = True
        self._attention = True
        await workflow.wait_condition(lambda: self._status == "cancelled")
        return CancelResult(
            status="cancelled", cancel_at_period_end=False, effective_at=self._cancelled_at or now
        )

    @cancel.validator
    def _validate_cancel(self, request: CancelRequest) -> None:
        self._refuse_when_ended()

    def _period_end(self, now: datetime) -> datetime:
        """Where a period-end cancel takes effect: the end of the period being charged (or, if
        that charge is declined, at once), else of the paid period; never in the past."""
        if self._bill is not None:
            end = self._bill.period_end
        else:
            end = self._run.current_period_end or self._start(self._run.cycle)
        return max(end, now)

    @workflow.update(name=PAUSE_UPDATE)
    def pause(self) -> CommandResult:
        self._status = "paused"
        self._attention = True
        message = "Paused: no charges until the subscription is resumed."
        if self._bill is not None:
            message = (
                "Paused: the charge already under way for this period completes (paid, it is "
                "credited); nothing more is charged until the subscription is resumed."
            )
        return CommandResult(status="paused", next_billing_date=None, message=message)

    @pause.validator
    def _validate_pause(self) -> None:
        self._refuse_when_ended()
        if self._status != "active":
            raise ApplicationError(
                f"Only an active subscription can be paused; this one is {self._status}.",
                type="SubscriptionNotActive",
            )

    @workflow.update(name=RESUME_UPDATE)
    async def resume(self, request: ResumeRequest) -> CommandResult:
        if self._status == "paused":
            if request.payment_method is not None:
                self._run.payment_method = request.payment_method
            if self._bill is not None and not self._charging:
                return self._resume_unpaid_period()
            self._status = "active"
            if self._bill is None and self._run.current_period_start is not None:
                # Billing dates that passed while paused are skipped; a first period that was
                # never paid is still owed, so it is billed now.
                self._run.cycle = max(
                    self._run.cycle,
                    next_cycle(self._run.anchor, self._interval, workflow.now(), inclusive=True),
                )
            self._attention = True
            return CommandResult(
                status="active",
                next_billing_date=self._next_billing_date(),
                message="Resumed: billing continues on the next billing date.",
            )
        self._resume_answer = None
        self._resume_request = request
        self._attention = True
        await workflow.wait_condition(
            lambda: self._resume_answer is not None or self._status == "cancelled"
        )
        answer = self._resume_answer or CommandResult(
            status="cancelled", next_billing_date=None, message="The subscription was cancelled."
        )
        self._resume_answer = None
        return answer

    def _resume_unpaid_period(self) -> CommandResult:
        """A period declined while it was being paused is still owed: it is retried now, on a
        fresh grace period, and billing dates that passed while paused are skipped."""
        now = workflow.now()
        self._status = "past_due"
        self._schedule_dunning(now)
        self._retry_now = True
        self._resume_cycle = next_cycle(self._run.anchor, self._interval, now, inclusive=True)
        self._attention = True
        return CommandResult(
            status="past_due",
            next_billing_date=None,
            message="Resumed: the open invoice is being retried now.",
        )

    @resume.validator
    def _validate_resume(self, request: ResumeRequest) -> None:
        self._refuse_when_ended()
        if self._status not in ("paused", "suspended"):
            raise ApplicationError(
                f"Only a paused or suspended subscription can be resumed; this one is "
                f"{self._status}.",
                type="SubscriptionNotResumable",
            )
        if self._resume_request is not None:
            raise ApplicationError(
                "A resume is already being charged.", type="SubscriptionResumeInProgress"
            )

    @workflow.update(name=CHANGE_PACKAGE_UPDATE)
    def change_package(self, request: ChangePackageRequest) -> ChangePackageResult:
        self._run.next_terms = request.terms
        self._attention = True
        effective = self._next_period_for_change()
        when = f"the period starting {effective.isoformat()}" if effective else "the next period"
        return ChangePackageResult(
            package_id=request.terms.package_id,
            effective_from=effective,
            message=f"The package changes from the next period: {when}. "
            "The current period keeps its package.",
        )

    @change_package.validator
    def _validate_change_package(self, request: ChangePackageRequest) -> None:
        self._refuse_when_ended()

    @workflow.update(name=UPDATE_PAYMENT_METHOD_UPDATE)
    def update_payment_method(self, request: PaymentMethodRequest) -> CommandResult:
        self._run.payment_method = request.payment_method
        self._attention = True
        if self._status == "past_due":
            self._retry_now = True
            message = "The open invoice is being retried now with the new payment method."
        elif self._status == "suspended":
            message = "Saved; resume the subscription to charge it."
        else:
            message = "Saved; the next charge uses it."
        return CommandResult(
            status=self._status, next_billing_date=self._next_billing_date(), message=message
        )

    @update_payment_method.validator
    def _validate_payment_method(self, request: PaymentMethodRequest) -> None:
        self._refuse_when_ended()

    def _next_period_for_change(self) -> datetime | None:
        """The start of the first period billed with a package changed now."""
        if self._status in ("paused", "suspended"):
            return None
        if self._bill is not None:
            return self._start(self._run.cycle + 1)
        return self._start(self._run.cycle)
