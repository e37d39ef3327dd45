"""The purchase activities: status changes, charge, credit, invoice and compensation.

Each one is safe to run again with the same input: money and tokens move under business keys
(`purchase:<ref>:charge`, `:credit`, `:invoice`, `:refund`, `:reversal`), and every status change
is a conditional UPDATE that never moves a terminal status backwards. Audit rows are written only
by the run that made the change, in its transaction.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeat import heartbeating
from activities.organization_status import refuse_while_inactive
from activities.payments.gateway import (
    CancellablePayments,
    IdempotencyKeyMismatch,
    InvalidGatewayRequest,
    PaymentDeclined,
    PaymentGateway,
    PaymentRequiresAction,
    RefundRefused,
)
from activities.token_switch import refuse_while_switched_off
from db import ledger, purchases
from db.audit import Actor, Outcome, write_audit
from db.errors import LedgerError
from db.invoices import InvoiceError, InvoiceLineInput, issue_invoice
from db.notifications import Severity, record_event
from db.purchase_patterns import check_purchase_pattern, rule_from_settings
from db.stripe_customers import record_payment_action, resolve_payment_action
from tokenbill.settings import Settings
from workflows.payment_action_types import PAYMENT_REQUIRES_ACTION, PaymentAction
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
    CancelPaymentInput,
    ChargeOutcome,
    CompletePurchaseInput,
    CreditOutcome,
    FailPurchaseInput,
    InvoiceOutcome,
    RefundOutcome,
    RefundPurchaseInput,
    StatusOutcome,
    cancel_key,
    charge_key,
    credit_key,
    invoice_key,
    refund_key,
    reversal_key,
)
from workflows.purchase_types import PurchaseInput, PurchaseStatus


class PurchaseActivities:
    def __init__(
        self,
        session_maker: async_sessionmaker[AsyncSession],
        gateway: PaymentGateway,
        settings: Settings,
    ) -> None:
        self._session_maker = session_maker
        self._gateway = gateway
        self._settings = settings

    def definitions(self) -> list[Callable[..., Any]]:
        """The activity methods, bound to this object, for a worker to register."""
        return [
            self.mark_processing,
            self.charge_payment,
            self.credit_tokens,
            self.issue_invoice,
            self.complete,
            self.fail,
            self.refund,
            self.cancel_waiting_payment,
        ]

    @activity.defn(name=MARK_PROCESSING)
    async def mark_processing(self, purchase: PurchaseInput) -> StatusOutcome:
        async with self._session_maker() as session, session.begin():
            await purchases.mark_processing(
                session, purchase.purchase_reference_id, organization_id=purchase.organization_id
            )
            return StatusOutcome(status=await _status(session, purchase))

    @activity.defn(name=CHARGE_PAYMENT)
    async def charge_payment(self, purchase: PurchaseInput) -> ChargeOutcome:
        ref = purchase.purchase_reference_id
        refuse_while_switched_off(self._settings, f"the charge of purchase {ref}")
        await refuse_while_inactive(
            self._session_maker, purchase.organization_id, f"the charge of purchase {ref}"
        )
        try:
            async with heartbeating():
                charge = await self._gateway.charge(
                    idempotency_key=charge_key(ref),
                    payment_method=purchase.payment_method,
                    amount=purchase.total_amount,
                    currency=purchase.currency,
                    description=purchase.description,
                    organization_id=purchase.organization_id,
                    reference=ref,
                    off_session=purchase.purchase_type != "one_time",
                )
        except PaymentDeclined as declined:
            raise ApplicationError(
                str(declined),
                {"code": declined.code, "hard": declined.hard},
                type=PAYMENT_DECLINED,
                non_retryable=True,
            ) from declined
        except (IdempotencyKeyMismatch, InvalidGatewayRequest) as invalid:
            raise ApplicationError(
                str(invalid), type=INVALID_PAYMENT_REQUEST, non_retryable=True
            ) from invalid
        except PaymentRequiresAction as waiting:
            await self._record_waiting(purchase, waiting)
            action = PaymentAction(
                payment_reference=waiting.payment_reference,
                client_secret=waiting.client_secret,
                action_url=waiting.action_url,
            )
            raise ApplicationError(
                str(waiting), action.model_dump(), type=PAYMENT_REQUIRES_ACTION, non_retryable=True
            ) from waiting
        # GatewayTimeout is left to propagate: the retry uses the same key and charges once.
        async with self._session_maker() as session, session.begin():
            # A payment that waited for the customer is no longer waiting.
            await resolve_payment_action(
                session, purchase.organization_id, charge.charge_reference, "succeeded"
            )
            if await purchases.record_charge(
                session, ref, charge.charge_reference, organization_id=purchase.organization_id
            ):
                await self._audit(
                    session,
                    purchase,
                    "purchase.charge",
                    after={
                        "charge_reference": charge.charge_reference,
                        "amount": charge.amount,
                        "currency": charge.currency,
                        "payment_method": purchase.payment_method,
                    },
                )
        return ChargeOutcome(
            charge_reference=charge.charge_reference, amount=charge.amount, currency=charge.currency
        )

    @activity.defn(name=CANCEL_WAITING_PAYMENT)
    async def cancel_waiting_payment(self, request: CancelPaymentInput) -> bool:
        """Call off a payment the customer did not complete, so it can never be captured later
        without its tokens. False: it succeeded meanwhile (the charge's key answers it)."""
        purchase = request.purchase
        cancelled = True
        if isinstance(self._gateway, CancellablePayments):
            async with heartbeating():
                cancelled = await self._gateway.cancel_payment(
                    payment_reference=request.payment_reference,
                    idempotency_key=cancel_key(purchase.purchase_reference_id),
                )
        if cancelled:
            async with self._session_maker() as session, session.begin():
                await resolve_payment_action(
                    session, purchase.organization_id, request.payment_reference, "canceled"
                )
        return cancelled

    async def _record_waiting(
        self, purchase: PurchaseInput, waiting: PaymentRequiresAction
    ) -> None:
        """The payment waits for the customer: kept with the workflow to signal, audited once."""
        async with self._session_maker() as session, session.begin():
            if await record_payment_action(
                session,
                organization_id=purchase.organization_id,
                payment_intent_id=waiting.payment_reference,
                workflow_id=activity.info().workflow_id or "",
                reference=purchase.purchase_reference_id,
                client_secret=waiting.client_secret,
                action_url=waiting.action_url,
            ):
                await self._audit(
                    session,
                    purchase,
                    "purchase.requires_action",
                    after={
                        "payment_reference": waiting.payment_reference,
                        "action_url": waiting.action_url,
                    },
                )

    @activity.defn(name=CREDIT_TOKENS)
    async def credit_tokens(self, purchase: PurchaseInput) -> CreditOutcome:
        ref = purchase.purchase_reference_id
        expires_at = None
        if self._settings.token_expiration_enabled:
            expires_at = datetime.now(UTC) + timedelta(days=self._settings.token_expiration_days)
        async with self._session_maker() as session, session.begin():
            try:
                posting = await ledger.credit(
                    session,
                    wallet_id=purchase.wallet_id,
                    amount=purchase.token_quantity,
                    idempotency_key=credit_key(ref),
                    kind="purchase",
                    description=f"Purchase {ref}: {purchase.description}",
                    reference=ref,
                    expires_at=expires_at,
                    organization_id=purchase.organization_id,
                )
            except LedgerError as refused:
                raise ApplicationError(
                    str(refused), type=LEDGER_REFUSED, non_retryable=True
                ) from refused
            if not posting.replayed:
                await self._audit(
                    session,
                    purchase,
                    "purchase.credit",
                    after={
                        "tokens": posting.amount,
                        "balance_after": posting.balance_after,
                        "transaction_id": posting.transaction_id,
                        "expires_at": expires_at,
                    },
                )
        return CreditOutcome(
            transaction_id=posting.transaction_id, balance_after=posting.balance_after
        )

    @activity.defn(name=ISSUE_INVOICE)
    async def issue_invoice(self, purchase: PurchaseInput) -> InvoiceOutcome:
        ref = purchase.purchase_reference_id
        line = InvoiceLineInput(
            description=purchase.description,
            token_quantity=purchase.token_quantity,
            unit_price=purchase.price_per_token,
            package_id=purchase.package_id,
        )
        async with self._session_maker() as session, session.begin():
            try:
                invoice = await issue_invoice(
                    session,
                    idempotency_key=invoice_key(ref),
                    organization_id=purchase.organization_id,
                    lines=[line],
                    tax_rate=purchase.tax_rate,
                    currency=purchase.currency,
                    issue_date=datetime.now(UTC).date(),
                    due_days=self._settings.token_invoice_due_days,
                    status="paid",
                    purchase_reference_id=ref,
                )
            except InvoiceError as refused:
                raise ApplicationError(
                    str(refused), type=INVOICE_REFUSED, non_retryable=True
                ) from refused
            if invoice.total != purchase.total_amount:
                # Raising rolls the transaction back, so the number is given back too.
                raise ApplicationError(
                    f"invoice total {invoice.total} differs from the {purchase.total_amount} "
                    "charged",
                    type=INVOICE_REFUSED,
                    non_retryable=True,
                )
            if not invoice.replayed:
                await self._audit(
                    session,
                    purchase,
                    "purchase.invoice",
                    after={
                        "invoice_number": invoice.invoice_number,
                        "total": invoice.total,
                        "tax_amount": invoice.tax_amount,
                        "status": invoice.status,
                    },
                )
        return InvoiceOutcome(invoice_id=invoice.id, invoice_number=invoice.invoice_number)

    @activity.defn(name=COMPLETE_PURCHASE)
    async def complete(self, request: CompletePurchaseInput) -> StatusOutcome:
        purchase = request.purchase
        async with self._session_maker() as session, session.begin():
            if await purchases.mark_completed(
                session,
                purchase.purchase_reference_id,
                invoice_id=request.invoice.invoice_id,
                charge_reference=request.charge.charge_reference,
                organization_id=purchase.organization_id,
            ):
                after = {
                    "status": "completed",
                    "tokens": purchase.token_quantity,
                    "total_amount": purchase.total_amount,
                    "currency": purchase.currency,
                    "invoice_number": request.invoice.invoice_number,
                    "charge_reference": request.charge.charge_reference,
                }
                await self._audit(
                    session, purchase, "purchase.complete", before={"status": "processing"},
                    after=after,
                )  # fmt: skip
                await _notify(session, purchase, "completed", after)
                await check_purchase_pattern(
                    session, organization_id=purchase.organization_id,
                    day=datetime.now(UTC).date(), rule=rule_from_settings(self._settings),
                )  # fmt: skip
            return StatusOutcome(status=await _status(session, purchase))

    @activity.defn(name=FAIL_PURCHASE)
    async def fail(self, request: FailPurchaseInput) -> StatusOutcome:
        purchase = request.purchase
        review = request.reason if request.needs_review else None
        async with self._session_maker() as session, session.begin():
            if await purchases.mark_failed(
                session,
                purchase.purchase_reference_id,
                reason=request.reason,
                review=review,
                organization_id=purchase.organization_id,
            ):
                after = {
                    "status": "failed",
                    "failure_reason": request.reason,
                    "needs_review": request.needs_review,
                }
                await self._audit(
                    session, purchase, "purchase.fail", before={"status": "processing"},
                    after=after, outcome="failure",
                )  # fmt: skip
                severity: Severity = "critical" if request.needs_review else "warning"
                await _notify(session, purchase, "failed", after, severity=severity)
            return StatusOutcome(status=await _status(session, purchase))

    @activity.defn(name=REFUND_PURCHASE)
    async def refund(self, request: RefundPurchaseInput) -> RefundOutcome:
        """Refund the charge, then take the purchase's own tokens back, then mark it refunded.

        The refund comes first, so a refund the processor refuses leaves the credited tokens in
        the wallet; tokens already spent stop the refund before it is asked for. Both leave the
        purchase to finance (the workflow flags it).
        """
        purchase = request.purchase
        ref = purchase.purchase_reference_id
        await self._refuse_when_tokens_spent(purchase)
        try:
            async with heartbeating():
                refund = await self._gateway.refund(
                    idempotency_key=refund_key(ref),
                    charge_reference=request.charge.charge_reference,
                    amount=request.charge.amount,
                    currency=request.charge.currency,
                )
        except (RefundRefused, IdempotencyKeyMismatch, InvalidGatewayRequest) as refused:
            raise ApplicationError(
                str(refused), type=REFUND_REFUSED, non_retryable=True
            ) from refused
        async with self._session_maker() as session, session.begin():
            reversed_tokens, review = await self._reverse_credit(session, purchase)
            if await purchases.mark_refunded(
                session, ref, refund_reference=refund.refund_reference, reason=request.reason,
                review=review, organization_id=purchase.organization_id,
            ):  # fmt: skip
                after = {
                    "status": "refunded",
                    "refund_reference": refund.refund_reference,
                    "amount": refund.amount,
                    "currency": refund.currency,
                    "reversed_tokens": reversed_tokens,
                    "failure_reason": request.reason,
                    "review_reason": review,
                }
                await self._audit(
                    session, purchase, "purchase.refund", before={"status": "processing"},
                    after=after,
                )  # fmt: skip
                severity: Severity = "warning" if review is None else "critical"
                await _notify(session, purchase, "refunded", after, severity=severity)
            status = await _status(session, purchase)
        return RefundOutcome(
            refund_reference=refund.refund_reference, reversed_tokens=reversed_tokens, status=status
        )

    async def _refuse_when_tokens_spent(self, purchase: PurchaseInput) -> None:
        """Tokens of this purchase already spent cannot be taken back: no refund is asked for."""
        ref = purchase.purchase_reference_id
        async with self._session_maker() as session:
            if await ledger.posting_exists(session, reversal_key(ref)):
                return  # an earlier attempt refunded and took the tokens back already
            lot = await ledger.credited_lot(session, credit_key(ref))
        if lot is not None and lot.remaining_amount < lot.original_amount:
            spent = lot.original_amount - lot.remaining_amount
            raise ApplicationError(
                f"the purchased tokens cannot be taken back: {spent} of {lot.original_amount} "
                "were already spent",
                type=REVERSAL_REFUSED,
                non_retryable=True,
            )

    async def _reverse_credit(
        self, session: AsyncSession, purchase: PurchaseInput
    ) -> tuple[Decimal, str | None]:
        """Take back what is left of the purchase's own lot, in the refund's transaction: the
        tokens reversed, and why finance must look (tokens spent since the refund was asked)."""
        ref = purchase.purchase_reference_id
        posting = await ledger.reverse_credit(
            session,
            credit_key=credit_key(ref),
            idempotency_key=reversal_key(ref),
            description=f"Reversal of purchase {ref}",
            reference=ref,
        )
        reversed_tokens = posting.amount if posting is not None else Decimal("0")
        if posting is not None and not posting.replayed:
            await self._audit(
                session,
                purchase,
                "purchase.reverse",
                after={
                    "tokens": posting.amount,
                    "balance_after": posting.balance_after,
                    "transaction_id": posting.transaction_id,
                },
            )
        lot = await ledger.credited_lot(session, credit_key(ref))
        if lot is None or reversed_tokens == lot.original_amount:
            return reversed_tokens, None
        missing = lot.original_amount - reversed_tokens
        return reversed_tokens, (
            f"refunded, but {missing} of the {lot.original_amount} purchased tokens were spent "
            "before they could be taken back"
        )

    async def _audit(
        self,
        session: AsyncSession,
        purchase: PurchaseInput,
        action: str,
        *,
        after: dict[str, Any],
        before: dict[str, Any] | None = None,
        outcome: Outcome = "success",
    ) -> None:
        actor = (
            Actor.user(purchase.actor_user_id)
            if purchase.actor_user_id is not None
            else Actor.system("purchase-workflow")
        )
        await write_audit(
            session,
            actor=actor,
            action=action,
            organization_id=purchase.organization_id,
            target_type="token_purchase",
            target_id=purchase.purchase_reference_id,
            before=before,
            after=after,
            outcome=outcome,
        )


async def _status(session: AsyncSession, purchase: PurchaseInput) -> PurchaseStatus:
    purchase_reference_id = purchase.purchase_reference_id
    status = await purchases.purchase_status(
        session, purchase_reference_id, organization_id=purchase.organization_id
    )
    if status is None:
        raise ApplicationError(
            f"purchase {purchase_reference_id} does not exist",
            type=PURCHASE_NOT_FOUND,
            non_retryable=True,
        )
    return cast(PurchaseStatus, status)


async def _notify(
    session: AsyncSession,
    purchase: PurchaseInput,
    outcome: str,
    payload: dict[str, Any],
    *,
    severity: Severity = "info",
) -> None:
    """Put the purchase's outcome in the notification outbox, in the status change's transaction."""
    await record_event(
        session,
        idempotency_key=f"purchase:{purchase.purchase_reference_id}:{outcome}",
        event_type=f"purchase.{outcome}",
        payload={"purchase_reference_id": purchase.purchase_reference_id, **payload},
        organization_id=purchase.organization_id,
        wallet_id=purchase.wallet_id,
        severity=severity,
    )
