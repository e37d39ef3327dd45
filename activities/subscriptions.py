"""The subscription activities: charge a period, credit it, invoice it, record what happened.

Each period is one token_purchases row (purchase_type 'subscription', linked by subscription_id,
reference `SUB-<id>-<period start>`), so paid cycles appear in the purchase history and revenue
beside one-time purchases. Money and tokens move under business keys (see
workflows.subscription_activity_types); every write is safe to run again with the same input, and
audit rows and notifications are written only by the run that made the change.
"""

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.organization_status import refuse_while_inactive
from activities.payments.gateway import (
    CancellablePayments,
    ChargeResult,
    IdempotencyKeyMismatch,
    InvalidGatewayRequest,
    PaymentDeclined,
    PaymentGateway,
    PaymentRequiresAction,
)
from activities.token_switch import refuse_while_switched_off
from db import ledger, subscription_periods, subscriptions
from db.audit import Actor, Outcome, write_audit
from db.errors import LedgerError
from db.invoices import (
    InvoiceError,
    InvoiceLineInput,
    IssuableStatus,
    IssuedInvoice,
    issue_invoice,
    mark_invoice_paid,
)
from db.notifications import Severity, record_event
from db.stripe_customers import record_payment_action, resolve_payment_action, waiting_actions
from domain.pricing import Price, price_tokens
from tokenbill.settings import Settings
from workflows.payment_action_types import PaymentAction
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
    SyncRequest,
    SyncResult,
    VoidOpenInvoices,
    VoidPeriod,
    charge_key,
    credit_key,
    invoice_key,
    period_key,
    purchase_reference,
)
from workflows.subscription_types import PackageTerms, subscription_workflow_id

logger = logging.getLogger("tokenbill.subscriptions")
INVALID_PAYMENT_REQUEST = "invalid_payment_request"


def period_price(bill: PeriodBill) -> Price:
    return price_tokens(bill.terms.token_quantity, bill.terms.price_per_token, bill.tax_rate)


def period_description(bill: PeriodBill) -> str:
    start, end = bill.period_start.date().isoformat(), bill.period_end.date().isoformat()
    return f"{bill.terms.name} subscription, {start} to {end}"


class SubscriptionActivities:
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
            self.sync,
            self.charge,
            self.record_failed_charge,
            self.credit,
            self.invoice,
            self.record_payment,
            self.void_period,
            self.void_open_invoices,
            self.notify,
        ]

    @activity.defn(name=SYNC_SUBSCRIPTION)
    async def sync(self, request: SyncRequest) -> SyncResult:
        """Mirror the workflow's state into token_subscriptions; audit a status change. A
        cancelled row stays cancelled: the run is told so, and ends."""
        state = request.state
        async with self._session_maker() as session, session.begin():
            before = await subscriptions.lock_status(
                session, state.subscription_id, organization_id=request.organization_id
            )
            if before is None:
                raise _not_found(state.subscription_id)
            if before == "cancelled" and state.status != "cancelled":
                logger.warning(
                    "subscription run refused: the row is cancelled",
                    extra={"subscription_id": state.subscription_id, "status": state.status},
                )
                return SyncResult(row_cancelled=True)
            await subscriptions.mirror(
                session,
                state.subscription_id,
                _mirrored(request),
                cancelled_at=request.cancelled_at,
                organization_id=request.organization_id,
            )
            if before != state.status:
                await _audit(
                    session, state.subscription_id, request.organization_id,
                    "subscription.status", before={"status": before},
                    after={"status": state.status, "last_payment_error": state.last_payment_error},
                )  # fmt: skip
        logger.info(
            "subscription state",
            extra={"subscription_id": state.subscription_id, "status": state.status,
                   "next_billing_date": state.next_billing_date},
        )  # fmt: skip
        return SyncResult()

    @activity.defn(name=CHARGE_PERIOD)
    async def charge(self, bill: PeriodBill) -> ChargeAttempt:
        """Charge the attempt under its own key; a decline comes back as data."""
        reference = purchase_reference(bill.subscription_id, bill.period_start)
        price = period_price(bill)
        async with self._session_maker() as session:
            captured = await subscription_periods.captured_charge(
                session, reference, organization_id=bill.organization_id
            )
        if captured is not None:
            # The period was already paid (by an earlier attempt or run): never charge it twice.
            return ChargeAttempt(paid=True, charge_reference=captured)
        refuse_while_switched_off(self._settings, f"the charge of {reference}")
        await refuse_while_inactive(
            self._session_maker, bill.organization_id, f"the charge of {reference}"
        )
        earlier = await self._earlier_payment_completed(bill, reference)
        try:
            charge = earlier or await self._gateway.charge(
                idempotency_key=charge_key(bill.subscription_id, bill.period_start, bill.attempt),
                payment_method=bill.payment_method,
                amount=price.total,
                currency=bill.terms.currency,
                description=period_description(bill),
                organization_id=bill.organization_id,
                reference=reference,
                off_session=True,
            )
        except PaymentDeclined as declined:
            return ChargeAttempt(
                paid=False, decline_code=declined.code, message=str(declined), hard=declined.hard
            )
        except (IdempotencyKeyMismatch, InvalidGatewayRequest) as invalid:
            # No retry of this request can succeed: like a hard decline, it needs a new method.
            return ChargeAttempt(
                paid=False, decline_code=INVALID_PAYMENT_REQUEST, message=str(invalid), hard=True
            )
        except PaymentRequiresAction as waiting:
            # Off-session, the bank wants the customer: dunning goes on while the workflow waits
            # for them to complete this payment (payment_confirmed), then asks with this key.
            async with self._session_maker() as session, session.begin():
                await record_payment_action(
                    session, organization_id=bill.organization_id,
                    payment_intent_id=waiting.payment_reference,
                    workflow_id=activity.info().workflow_id or "", reference=reference,
                    client_secret=waiting.client_secret, action_url=waiting.action_url,
                )  # fmt: skip
            return ChargeAttempt(
                paid=False, decline_code="authentication_required", hard=False,
                message=f"{waiting}: the customer must complete the payment",
                action=PaymentAction(
                    payment_reference=waiting.payment_reference,
                    client_secret=waiting.client_secret, action_url=waiting.action_url,
                ),
            )  # fmt: skip
        # GatewayTimeout propagates: the retry uses the same key and charges once.
        async with self._session_maker() as session, session.begin():
            await resolve_payment_action(
                session, bill.organization_id, charge.charge_reference, "succeeded"
            )
            await self._ensure_period_purchase(session, bill, price)
            if await subscription_periods.record_charge(
                session, reference, charge_id=charge.charge_reference,
                payment_method=bill.payment_method, organization_id=bill.organization_id,
            ):  # fmt: skip
                await _audit(
                    session, bill.subscription_id, bill.organization_id,
                    "subscription.charge",
                    after={"charge_reference": charge.charge_reference, "amount": charge.amount,
                           "currency": charge.currency, "attempt": bill.attempt,
                           "period_start": bill.period_start,
                           "payment_method": bill.payment_method},
                )  # fmt: skip
        return ChargeAttempt(paid=True, charge_reference=charge.charge_reference)

    async def _earlier_payment_completed(
        self, bill: PeriodBill, reference: str
    ) -> ChargeResult | None:
        """Before another attempt, call off the period's payments still waiting for the
        customer, so no late authentication captures money the period no longer expects; one
        the customer has completed meanwhile is the period's charge."""
        if not isinstance(self._gateway, CancellablePayments):
            return None
        async with self._session_maker() as session:
            waiting = await waiting_actions(session, bill.organization_id, reference)
        for payment in waiting:
            cancelled = await self._gateway.cancel_payment(
                payment_reference=payment, idempotency_key=f"{reference}:cancel:{payment}"
            )
            if not cancelled:
                return ChargeResult(
                    charge_reference=payment, amount=period_price(bill).total,
                    currency=bill.terms.currency, payment_method=bill.payment_method,
                    replayed=True,
                )  # fmt: skip
            async with self._session_maker() as session, session.begin():
                await resolve_payment_action(session, bill.organization_id, payment, "canceled")
        return None

    @activity.defn(name=RECORD_FAILED_CHARGE)
    async def record_failed_charge(self, failed: FailedCharge) -> None:
        """The period's invoice stays open until grace ends; one notification per failure."""
        bill, charge = failed.bill, failed.charge
        reference = purchase_reference(bill.subscription_id, bill.period_start)
        price = period_price(bill)
        issue_date = bill.period_start.date()
        async with self._session_maker() as session, session.begin():
            await self._ensure_period_purchase(session, bill, price)
            due_days = (failed.grace_period_ends_at.date() - issue_date).days
            invoice = await self._issue(session, bill, price, "open", due_days)
            await subscription_periods.record_failed_charge(
                session, reference, reason=charge.message, payment_method=bill.payment_method,
                invoice_id=invoice.id, organization_id=bill.organization_id,
            )  # fmt: skip
            details = {
                "attempt": bill.attempt, "decline_code": charge.decline_code,
                "message": charge.message, "hard_decline": charge.hard,
                "invoice_number": invoice.invoice_number, "amount_due": str(price.total),
                "grace_period_ends_at": failed.grace_period_ends_at.isoformat(),
            }  # fmt: skip
            recorded = await _notify(
                session, bill.subscription_id, bill.organization_id, bill.wallet_id,
                "subscription.payment_failed",
                f"{period_key(bill.subscription_id, bill.period_start)}:failure:{bill.attempt}",
                details, severity="warning",
            )  # fmt: skip
            if recorded:
                await _audit(
                    session, bill.subscription_id, bill.organization_id,
                    "subscription.charge_declined", after=details, outcome="failure",
                )  # fmt: skip

    @activity.defn(name=CREDIT_PERIOD)
    async def credit(self, bill: PeriodBill) -> CreditResult:
        expires_at = None
        if self._settings.token_expiration_enabled:
            expires_at = bill.period_start + timedelta(days=self._settings.token_expiration_days)
        async with self._session_maker() as session, session.begin():
            try:
                posting = await ledger.credit(
                    session,
                    wallet_id=bill.wallet_id,
                    amount=bill.terms.token_quantity,
                    idempotency_key=credit_key(bill.subscription_id, bill.period_start),
                    kind="purchase",
                    description=period_description(bill),
                    reference=purchase_reference(bill.subscription_id, bill.period_start),
                    expires_at=expires_at,
                    organization_id=bill.organization_id,
                )
            except LedgerError as refused:
                raise ApplicationError(
                    str(refused), type=LEDGER_REFUSED, non_retryable=True
                ) from refused
            if not posting.replayed:
                await _audit(
                    session, bill.subscription_id, bill.organization_id,
                    "subscription.credit",
                    after={"tokens": posting.amount, "balance_after": posting.balance_after,
                           "transaction_id": posting.transaction_id,
                           "period_start": bill.period_start},
                )  # fmt: skip
        return CreditResult(
            transaction_id=posting.transaction_id, balance_after=posting.balance_after
        )

    @activity.defn(name=INVOICE_PERIOD)
    async def invoice(self, bill: PeriodBill) -> InvoiceResult:
        """The period's paid invoice: issued paid, or the open one of a past-due period paid."""
        price = period_price(bill)
        async with self._session_maker() as session, session.begin():
            invoice = await self._issue(
                session, bill, price, "paid", self._settings.token_invoice_due_days
            )
            if invoice.status == "open":
                invoice = await mark_invoice_paid(
                    session, invoice.id, organization_id=bill.organization_id
                )
        return InvoiceResult(invoice_id=invoice.id, invoice_number=invoice.invoice_number)

    @activity.defn(name=RECORD_PAYMENT)
    async def record_payment(self, paid: PaidPeriod) -> None:
        """Complete the period's purchase row, notify the renewal."""
        bill = paid.bill
        reference = purchase_reference(bill.subscription_id, bill.period_start)
        price = period_price(bill)
        async with self._session_maker() as session, session.begin():
            await self._ensure_period_purchase(session, bill, price)
            if not await subscription_periods.complete(
                session,
                reference,
                invoice_id=paid.invoice_id,
                charge_id=paid.charge_reference,
                organization_id=bill.organization_id,
            ):
                return
            details = {
                "purchase_reference_id": reference, "invoice_number": paid.invoice_number,
                "tokens": str(bill.terms.token_quantity), "total": str(price.total),
                "currency": bill.terms.currency, "period_start": bill.period_start.isoformat(),
                "period_end": bill.period_end.isoformat(),
                "balance_after": str(paid.balance_after),
            }  # fmt: skip
            await _audit(
                session, bill.subscription_id, bill.organization_id,
                "subscription.renew", after=details,
            )  # fmt: skip
            await _notify(
                session, bill.subscription_id, bill.organization_id, bill.wallet_id,
                "subscription.renewed",
                f"{period_key(bill.subscription_id, bill.period_start)}:renewed", details,
            )  # fmt: skip

    @activity.defn(name=VOID_PERIOD)
    async def void_period(self, request: VoidPeriod) -> None:
        """An unpaid period that will never be paid: its open invoice is voided, its row failed."""
        reference = purchase_reference(request.subscription_id, request.period_start)
        async with self._session_maker() as session, session.begin():
            voided = await subscription_periods.void_open_invoice(
                session,
                invoice_key(request.subscription_id, request.period_start),
                organization_id=request.organization_id,
            )
            await subscription_periods.fail_period(
                session, reference, request.reason, organization_id=request.organization_id
            )
            if voided is not None:
                await _audit(
                    session, request.subscription_id, request.organization_id,
                    "subscription.void_invoice",
                    after={"invoice_number": voided, "reason": request.reason,
                           "period_start": request.period_start},
                )  # fmt: skip

    @activity.defn(name=VOID_OPEN_INVOICES)
    async def void_open_invoices(self, request: VoidOpenInvoices) -> None:
        """A cancelled subscription's open invoices are voided (never closed as if paid), and
        their uncharged period rows fail."""
        async with self._session_maker() as session, session.begin():
            voided = await subscription_periods.void_open_invoices(
                session, request.subscription_id, organization_id=request.organization_id
            )
            await subscription_periods.fail_uncharged_periods(
                session,
                request.subscription_id,
                request.reason,
                organization_id=request.organization_id,
            )
            for invoice_number in voided:
                await _audit(
                    session, request.subscription_id, request.organization_id,
                    "subscription.void_invoice",
                    after={"invoice_number": invoice_number, "reason": request.reason},
                )  # fmt: skip

    @activity.defn(name=NOTIFY)
    async def notify(self, notification: Notification) -> None:
        async with self._session_maker() as session, session.begin():
            await _notify(
                session, notification.subscription_id, notification.organization_id,
                notification.wallet_id, notification.event_type, notification.idempotency_key,
                dict(notification.payload), severity=notification.severity,
            )  # fmt: skip

    async def _ensure_period_purchase(
        self, session: AsyncSession, bill: PeriodBill, price: Price
    ) -> None:
        """The period's token_purchases row (processing), written once."""
        await subscription_periods.add_period_purchase(
            session,
            reference=purchase_reference(bill.subscription_id, bill.period_start),
            organization_id=bill.organization_id, wallet_id=bill.wallet_id,
            package_id=bill.terms.package_id, token_quantity=bill.terms.token_quantity,
            price_per_token=bill.terms.price_per_token, subtotal_amount=price.subtotal,
            tax_rate=bill.tax_rate, tax_amount=price.tax, total_amount=price.total,
            currency=bill.terms.currency, payment_method=bill.payment_method,
            workflow_id=subscription_workflow_id(bill.subscription_id),
            subscription_id=bill.subscription_id, purchased_by_user_id=bill.actor_user_id,
        )  # fmt: skip

    async def _issue(
        self,
        session: AsyncSession,
        bill: PeriodBill,
        price: Price,
        status: IssuableStatus,
        due_days: int,
    ) -> IssuedInvoice:
        line = InvoiceLineInput(
            description=period_description(bill),
            token_quantity=bill.terms.token_quantity,
            unit_price=bill.terms.price_per_token,
            package_id=bill.terms.package_id,
        )
        try:
            invoice = await issue_invoice(
                session,
                idempotency_key=invoice_key(bill.subscription_id, bill.period_start),
                organization_id=bill.organization_id,
                lines=[line],
                tax_rate=bill.tax_rate,
                currency=bill.terms.currency,
                issue_date=bill.period_start.date(),
                due_days=max(0, due_days),
                status=status,
                purchase_reference_id=purchase_reference(bill.subscription_id, bill.period_start),
                subscription_id=bill.subscription_id,
            )
        except InvoiceError as refused:
            raise ApplicationError(
                str(refused), type=INVOICE_REFUSED, non_retryable=True
            ) from refused
        if invoice.total != price.total:
            raise ApplicationError(
                f"invoice total {invoice.total} differs from the {price.total} charged",
                type=INVOICE_REFUSED,
                non_retryable=True,
            )
        return invoice


def _mirrored(request: SyncRequest) -> dict[str, Any]:
    """The row's columns the workflow owns, by name: its state (but the id, which is the key, the
    interval, fixed at creation, and the cancellation time, which the row keeps once set), where
    its billing stands, and the terms agreed for this period and the next."""
    return {
        **request.state.model_dump(exclude={"subscription_id", "billing_interval", "cancelled_at"}),
        "billing_anchor": request.anchor,
        "billing_cycle": request.cycle,
        **_terms_columns("", request.terms),
        **_terms_columns("next_", request.next_terms),
    }


def _terms_columns(prefix: str, terms: PackageTerms | None) -> dict[str, object]:
    """One set of stored terms by column name; all None when there are none (no package change
    waiting)."""
    return {
        f"{prefix}token_quantity": None if terms is None else terms.token_quantity,
        f"{prefix}price_per_token": None if terms is None else terms.price_per_token,
        f"{prefix}currency": None if terms is None else terms.currency,
    }


def _not_found(subscription_id: int) -> ApplicationError:
    return ApplicationError(
        f"subscription {subscription_id} does not exist",
        type=SUBSCRIPTION_NOT_FOUND,
        non_retryable=True,
    )


async def _audit(
    session: AsyncSession,
    subscription_id: int,
    organization_id: int,
    action: str,
    *,
    after: dict[str, Any],
    before: dict[str, Any] | None = None,
    outcome: Outcome = "success",
) -> None:
    """What the workflow did, by the system (the API audits the user's commands)."""
    await write_audit(
        session,
        actor=Actor.system("subscription-workflow"),
        action=action,
        organization_id=organization_id,
        target_type="token_subscription",
        target_id=subscription_id,
        before=before,
        after=after,
        outcome=outcome,
    )


async def _notify(
    session: AsyncSession,
    subscription_id: int,
    organization_id: int,
    wallet_id: int,
    event_type: str,
    key: str,
    payload: dict[str, Any],
    *,
    severity: Severity = "info",
) -> bool:
    """One outbox row per key and a structured log line; True when this call recorded it."""
    event_id = await record_event(
        session,
        idempotency_key=key,
        event_type=event_type,
        payload={"subscription_id": subscription_id, **payload},
        organization_id=organization_id,
        wallet_id=wallet_id,
        severity=severity,
    )
    if event_id is not None:
        logger.info(
            "subscription notification",
            extra={"event_type": event_type, "subscription_id": subscription_id,
                   "organization_id": organization_id, "severity": severity},
        )  # fmt: skip
    return event_id is not None
