"""Waiting inside a workflow for the customer to complete a payment (see payment_action_types)."""

from dataclasses import dataclass, field
from typing import Literal

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.payment_action_types import (
        CUSTOMER_ACTION_TIMEOUT,
        PAYMENT_REQUIRES_ACTION,
        PaymentAction,
        PaymentConfirmation,
        PaymentFailure,
    )

WaitOutcome = Literal["confirmed", "failed", "timed_out"]


def required_action(error: BaseException) -> PaymentAction | None:
    """The action an activity failure asks of the customer, or None for any other failure."""
    cause = error.cause if isinstance(error, ActivityError) else error
    if not isinstance(cause, ApplicationError) or cause.type != PAYMENT_REQUIRES_ACTION:
        return None
    details = cause.details[0] if cause.details else {}
    return PaymentAction.model_validate(details)


@dataclass
class CustomerAction:
    """The action a workflow waits on, and the outcomes signals brought (kept by payment, so a
    signal that comes before the wait starts is not lost)."""

    action: PaymentAction | None = None
    confirmed_payments: set[str] = field(default_factory=set)
    failed_payments: dict[str, str] = field(default_factory=dict)

    def confirmed(self, signal: PaymentConfirmation) -> None:
        self.confirmed_payments.add(signal.payment_reference)

    def failed(self, signal: PaymentFailure) -> None:
        self.failed_payments[signal.payment_reference] = signal.reason

    def _outcome(self, reference: str) -> WaitOutcome | None:
        if reference in self.confirmed_payments:
            return "confirmed"
        if reference in self.failed_payments:
            return "failed"
        return None

    async def wait(self, action: PaymentAction) -> WaitOutcome:
        """Wait for the customer (a signal) or the timeout."""
        self.action = action
        reference = action.payment_reference
        try:
            await workflow.wait_condition(
                lambda: self._outcome(reference) is not None, timeout=CUSTOMER_ACTION_TIMEOUT
            )
        except TimeoutError:
            pass
        self.action = None
        return self._outcome(reference) or "timed_out"

    def reason(self, reference: str) -> str:
        return self.failed_payments.get(reference, "the customer did not complete the payment")
