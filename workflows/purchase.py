"""PurchaseWorkflow: charge, credit, invoice, complete; a decline fails, a later failure refunds."""

import asyncio
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from workflows.payment_action import CustomerAction, required_action
    from workflows.payment_action_types import (
        PAYMENT_ACTION_QUERY,
        PAYMENT_CONFIRMED_SIGNAL,
        PAYMENT_FAILED_SIGNAL,
        REQUIRES_ACTION_PATCH,
        PaymentAction,
        PaymentConfirmation,
        PaymentFailure,
    )
    from workflows.purchase_activity_types import (
        CANCEL_WAITING_PAYMENT,
        CHARGE_PAYMENT,
        COMPLETE_PURCHASE,
        CREDIT_TOKENS,
        FAIL_PURCHASE,
        INVALID_PAYMENT_REQUEST,
        INVOICE_REFUSED,
        ISSUE_INVOICE,
        LEDGER_REFUSED,
        MARK_PROCESSING,
        PAYMENT_DECLINED,
        PURCHASE_NOT_FOUND,
        REFUND_PURCHASE,
        REFUND_REFUSED,
        REVERSAL_REFUSED,
        STATUS_QUERY,
        CancelPaymentInput,
        ChargeOutcome,
        CompletePurchaseInput,
        CreditOutcome,
        FailPurchaseInput,
        InvoiceOutcome,
        PurchaseStep,
        RefundOutcome,
        RefundPurchaseInput,
        StatusOutcome,
    )
    from workflows.purchase_types import (
        PURCHASE_WORKFLOW,
        PurchaseInput,
        PurchaseResult,
        PurchaseStatus,
    )
    from workflows.search_attributes import BILLING_STATUS

DATABASE_TIMEOUT = timedelta(seconds=15)
T = TypeVar("T")
GATEWAY_TIMEOUT = timedelta(seconds=60)
# Gateway activities heartbeat while they wait, so a crashed worker's call is retried quickly.
GATEWAY_HEARTBEAT = timedelta(seconds=10)
# Fulfilment still unfinished this long after the charge is flagged for operators.
FULFILMENT_ALERT_AFTER = timedelta(minutes=5)
FULFILMENT_DELAYED = "fulfilment_delayed"

# Status changes and compensation must happen eventually: retried until they succeed.
STATUS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=0,
    non_retryable_error_types=[PURCHASE_NOT_FOUND],
)
# A charge is only ever retried with its own key, for as long as the gateway does not answer.
CHARGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=0,
    non_retryable_error_types=[PAYMENT_DECLINED, INVALID_PAYMENT_REQUEST],
)
# Once money is captured, crediting and invoicing are retried until they succeed (an outage only
# delays them); only a definitive refusal leads to a refund.
FULFILMENT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=0,
    non_retryable_error_types=[LEDGER_REFUSED, INVOICE_REFUSED, PURCHASE_NOT_FOUND],
)
REFUND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=0,
    non_retryable_error_types=[
        REFUND_REFUSED,
        REVERSAL_REFUSED,
        LEDGER_REFUSED,
        PURCHASE_NOT_FOUND,
    ],
)

STEP_AFTER_STATUS: dict[PurchaseStatus, PurchaseStep] = {
    "pending": "processing",
    "processing": "processing",
    "completed": "completed",
    "failed": "failed",
    "refunded": "refunded",
}


@workflow.defn(name=PURCHASE_WORKFLOW)
class PurchaseWorkflow:
    def __init__(self) -> None:
        self._step: PurchaseStep = "starting"
        self._customer = CustomerAction()

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> PurchaseStep:
        """The step the purchase is at."""
        return self._step

    @workflow.query(name=PAYMENT_ACTION_QUERY)
    def payment_action(self) -> PaymentAction | None:
        """What the customer must do for the charge to go on, while the purchase waits for it."""
        return self._customer.action

    @workflow.signal(name=PAYMENT_CONFIRMED_SIGNAL)
    def payment_confirmed(self, confirmation: PaymentConfirmation) -> None:
        """The customer completed the payment (the processor's webhook says so)."""
        self._customer.confirmed(confirmation)

    @workflow.signal(name=PAYMENT_FAILED_SIGNAL)
    def payment_failed(self, failure: PaymentFailure) -> None:
        """The customer's authentication of the payment failed."""
        self._customer.failed(failure)

    @workflow.run
    async def run(self, purchase: PurchaseInput) -> PurchaseResult:
        self._step = "processing"
        current = await self._database(MARK_PROCESSING, purchase, StatusOutcome, STATUS_RETRY)
        if current.status != "processing":
            # Another run already finished this purchase: report it, move nothing twice.
            return self._finish(purchase, current.status)

        self._step = "charging"
        charge = await self._charge(purchase)
        if isinstance(charge, str):
            return await self._fail(purchase, charge)

        fulfilment = asyncio.ensure_future(self._fulfil(purchase))
        try:
            await workflow.wait_condition(fulfilment.done, timeout=FULFILMENT_ALERT_AFTER)
        except TimeoutError:
            workflow.logger.error(
                "purchase %s: charged %s ago and not yet credited and invoiced (still retrying)",
                purchase.purchase_reference_id,
                FULFILMENT_ALERT_AFTER,
            )
            workflow.upsert_search_attributes([BILLING_STATUS.value_set(FULFILMENT_DELAYED)])
        try:
            credit, invoice = await fulfilment
        except FailureError as error:  # a local activity's failure arrives unwrapped
            return await self._refund(purchase, charge, failure_reason(error))

        self._step = "completing"
        done = await self._database(
            COMPLETE_PURCHASE,
            CompletePurchaseInput(purchase=purchase, charge=charge, invoice=invoice),
            StatusOutcome,
            STATUS_RETRY,
        )
        result = self._finish(purchase, done.status)
        result.invoice_number = invoice.invoice_number
        result.balance_after = credit.balance_after
        return result

    async def _charge(self, purchase: PurchaseInput) -> ChargeOutcome | str:
        """The captured charge, or why there is none. A charge the customer must complete
        (3-D Secure) waits for them, then asks again with the same key."""
        timed_out = False
        while True:
            try:
                charge: ChargeOutcome = await workflow.execute_activity(
                    CHARGE_PAYMENT,
                    purchase,
                    result_type=ChargeOutcome,
                    start_to_close_timeout=GATEWAY_TIMEOUT,
                    heartbeat_timeout=GATEWAY_HEARTBEAT,
                    retry_policy=CHARGE_RETRY,
                )
                return charge
            except ActivityError as error:
                action = required_action(error)
                if action is None or not workflow.patched(REQUIRES_ACTION_PATCH):
                    return failure_reason(error)
                if timed_out:
                    # The customer had their time: call the payment off (unless it succeeded).
                    if await self._cancel_payment(purchase, action):
                        return failure_reason(error)
                    continue
            self._step = "awaiting_customer"
            outcome = await self._customer.wait(action)
            self._step = "charging"
            if outcome == "failed" and await self._cancel_payment(purchase, action):
                return self._customer.reason(action.payment_reference)
            timed_out = outcome == "timed_out"

    async def _cancel_payment(self, purchase: PurchaseInput, action: PaymentAction) -> bool:
        """True once the waiting payment is called off; False when it succeeded meanwhile."""
        cancelled: bool = await workflow.execute_activity(
            CANCEL_WAITING_PAYMENT,
            CancelPaymentInput(purchase=purchase, payment_reference=action.payment_reference),
            result_type=bool,
            start_to_close_timeout=GATEWAY_TIMEOUT,
            heartbeat_timeout=GATEWAY_HEARTBEAT,
            retry_policy=STATUS_RETRY,
        )
        return cancelled

    async def _fulfil(self, purchase: PurchaseInput) -> tuple[CreditOutcome, InvoiceOutcome]:
        self._step = "crediting"
        credit = await self._database(CREDIT_TOKENS, purchase, CreditOutcome, FULFILMENT_RETRY)
        self._step = "invoicing"
        invoice = await self._database(ISSUE_INVOICE, purchase, InvoiceOutcome, FULFILMENT_RETRY)
        return credit, invoice

    async def _fail(
        self, purchase: PurchaseInput, reason: str, *, needs_review: bool = False
    ) -> PurchaseResult:
        self._step = "failing"
        failed = await self._database(
            FAIL_PURCHASE,
            FailPurchaseInput(purchase=purchase, reason=reason, needs_review=needs_review),
            StatusOutcome,
            STATUS_RETRY,
        )
        return self._finish(purchase, failed.status, reason)

    async def _refund(
        self, purchase: PurchaseInput, charge: ChargeOutcome, reason: str
    ) -> PurchaseResult:
        self._step = "refunding"
        workflow.logger.warning("purchase fulfilment failed, refunding: %s", reason)
        try:
            refunded = await workflow.execute_activity(
                REFUND_PURCHASE,
                RefundPurchaseInput(purchase=purchase, charge=charge, reason=reason),
                result_type=RefundOutcome,
                start_to_close_timeout=GATEWAY_TIMEOUT,
                heartbeat_timeout=GATEWAY_HEARTBEAT,
                retry_policy=REFUND_RETRY,
            )
        except ActivityError as error:
            # The money stays captured and any credited tokens stay in the wallet: the purchase
            # is flagged for finance to settle by hand.
            return await self._fail(
                purchase,
                f"{reason}; refund not possible, needs review: {failure_reason(error)}",
                needs_review=True,
            )
        return self._finish(purchase, refunded.status, reason)

    async def _database(
        self, activity: str, argument: object, result_type: type[T], retry_policy: RetryPolicy
    ) -> T:
        """A short database step, as a local activity: no round trip through the server."""
        result: T = await workflow.execute_local_activity(
            activity, argument, result_type=result_type,
            start_to_close_timeout=DATABASE_TIMEOUT, retry_policy=retry_policy,
        )  # fmt: skip
        return result

    def _finish(
        self, purchase: PurchaseInput, status: PurchaseStatus, reason: str | None = None
    ) -> PurchaseResult:
        self._step = STEP_AFTER_STATUS[status]
        return PurchaseResult(
            purchase_reference_id=purchase.purchase_reference_id,
            status=status,
            failure_reason=reason,
        )


def failure_reason(error: FailureError) -> str:
    """The sentence a person reads: the activity's own message, not the SDK's wrapper."""
    cause = error.cause if isinstance(error, ActivityError) else error
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause) if cause is not None else str(error)
