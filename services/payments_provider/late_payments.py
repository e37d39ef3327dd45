"""A payment that succeeds after nobody waits for it any more: the customer completed 3-D Secure
after its purchase gave up (failed, cancelled) or after the subscription period was paid another
way. Left alone it is money captured with no tokens.

When `payment_intent.succeeded` finds the payment kept in stripe_payment_actions but no longer
waiting (or its workflow closed), it is decided here, in the webhook's transaction:
- a purchase holds this PaymentIntent as its charge: the tokens were delivered, nothing to do;
- the purchase is over (failed, refunded, or completed with another charge): the whole payment is
  refunded at Stripe under the key `late-payment:<pi>:refund` (a replay refunds nothing more),
  finance is notified and it is audited;
- the purchase is still deciding (pending, processing) or unknown: no automatic refund (its
  workflow may yet take the payment); finance is notified to review it.
A Stripe call that fails raises `payment_provider_unavailable` (503): the transaction rolls back
and Stripe delivers the event again."""

from dataclasses import dataclass
from typing import Any

import stripe
from sqlalchemy.ext.asyncio import AsyncSession

from db import disputes as purchases
from db.audit import Actor
from db.models import StripePaymentAction
from db.notifications import record_event
from db.purchases import purchase_status
from services import audit
from services.payments_provider.minor_units import from_minor_units
from services.payments_provider.stripe_api import provider_unavailable, stripe_client
from tokenbill.settings import Settings

LATE_PAYMENT_REFUNDED = "payment_provider.late_payment_refunded"
LATE_PAYMENT_REVIEW = "payment_provider.late_payment_review"
OVER = frozenset({"failed", "refunded", "completed"})
ALREADY_REFUNDED = "charge_already_refunded"
STRIPE = Actor.system("stripe-webhook")


@dataclass(frozen=True)
class LatePayment:
    outcome: str
    refund_id: str | None = None


def refund_key(payment_intent_id: str) -> str:
    return f"late-payment:{payment_intent_id}:refund"


async def settle_late_payment(
    session: AsyncSession, settings: Settings, action: StripePaymentAction, intent: dict[str, Any]
) -> LatePayment:
    intent_id = str(intent["id"])
    taken = await purchases.purchase_by_charge(
        session, [intent_id, str(intent.get("latest_charge") or "")]
    )
    if taken is not None:
        return LatePayment("payment_taken")
    status = await purchase_status(session, action.reference)
    currency = str(intent.get("currency") or "usd").upper()
    amount = int(intent.get("amount_received") or intent.get("amount") or 0)
    view = {
        "payment_intent": intent_id, "purchase_reference": action.reference,
        "purchase_status": status, "action_status": action.status,
        "amount": str(from_minor_units(amount, currency)), "currency": currency,
    }  # fmt: skip
    if status not in OVER:
        await record_event(
            session, idempotency_key=f"late-payment:{intent_id}:review",
            event_type=LATE_PAYMENT_REVIEW, organization_id=action.organization_id,
            severity="warning", payload=view,
        )  # fmt: skip
        return LatePayment("late_payment_review")
    refund_id = await _refund(settings, intent_id)
    after = {**view, "refund": refund_id, "idempotency_key": refund_key(intent_id)}
    await audit.record(
        session, STRIPE, "payment.late_refunded",
        audit.Target("payment_intent", intent_id, action.organization_id), None, after, None,
    )  # fmt: skip
    await record_event(
        session, idempotency_key=f"late-payment:{intent_id}:refunded",
        event_type=LATE_PAYMENT_REFUNDED, organization_id=action.organization_id,
        severity="warning", payload=after,
    )  # fmt: skip
    return LatePayment("late_payment_refunded", refund_id)


async def _refund(settings: Settings, intent_id: str) -> str | None:
    """The whole payment refunded once; None when Stripe says it was refunded already."""
    key = refund_key(intent_id)
    try:
        refund = await stripe_client(settings).v1.refunds.create_async(
            params={"payment_intent": intent_id, "metadata": {"tokenbill_key": key}},
            options={"idempotency_key": key},
        )
    except stripe.InvalidRequestError as refused:
        if refused.code == ALREADY_REFUNDED:
            return None
        raise provider_unavailable(refused) from refused
    except stripe.StripeError as failed:
        raise provider_unavailable(failed) from failed
    return str(refund.id)
