"""Stripe's webhook events: the signature verified with the SDK (STRIPE_WEBHOOK_SECRET, 300 s
tolerance), each event recorded once by its id (a replay answers and does nothing), then acted on
in the same transaction as its record."""

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe
from sqlalchemy.ext.asyncio import AsyncSession

from db import stripe_events
from db.audit import Actor, RequestContext
from services import audit
from services.errors import conflict
from services.payments_provider import disputes, payment_methods, refund_events
from services.payments_provider.payment_signals import signal_payment
from tokenbill.settings import Settings
from tokenbill.workflow_client import WorkflowClient

SIGNATURE_TOLERANCE_SECONDS = 300


class BadSignature(Exception):
    """The body was not signed with our endpoint's secret (or too long ago): refused."""


@dataclass(frozen=True)
class Received:
    event_id: str
    event_type: str
    duplicate: bool
    outcome: str


Handler = Callable[[AsyncSession, WorkflowClient, Settings, str, dict[str, Any]], Awaitable[Any]]


def verified_event(settings: Settings, payload: bytes, signature: str | None) -> dict[str, Any]:
    """The event the body carries, if Stripe signed it for our endpoint; BadSignature if not."""
    secret = settings.stripe_webhook_secret
    if not secret.get_secret_value():
        raise conflict(
            "payment_provider_not_configured",
            "No Stripe webhook signing secret is set (STRIPE_WEBHOOK_SECRET).",
        )
    try:
        stripe.Webhook.construct_event(
            payload.decode("utf-8"), signature or "", secret.get_secret_value(),
            tolerance=SIGNATURE_TOLERANCE_SECONDS,
        )  # fmt: skip
        event: dict[str, Any] = json.loads(payload)
    except (stripe.SignatureVerificationError, ValueError) as exc:
        raise BadSignature(str(exc)) from exc
    return event


async def refuse_signature(
    session: AsyncSession, reason: str, context: RequestContext | None
) -> None:
    await audit.record(
        session, Actor("service", "stripe-webhook"), "stripe.webhook_refused",
        audit.Target("stripe_webhook", "signature"), None, {"reason": reason[:200]}, context,
        outcome="denied",
    )  # fmt: skip


async def receive(
    session: AsyncSession, workflows: WorkflowClient, settings: Settings, event: dict[str, Any]
) -> Received:
    """Record the event once and act on it; the caller commits."""
    event_id, event_type = str(event["id"]), str(event["type"])
    obj: dict[str, Any] = dict(event.get("data", {}).get("object") or {})
    claimed = await stripe_events.claim_event(
        session, event_id=event_id, event_type=event_type, livemode=bool(event.get("livemode")),
        stripe_created_at=datetime.fromtimestamp(int(event.get("created") or 0), UTC),
        object_id=str(obj["id"]) if obj.get("id") else None, payload=event,
    )  # fmt: skip
    if not claimed:
        outcome = await stripe_events.event_outcome(session, event_id) or stripe_events.RECEIVED
        return Received(event_id, event_type, True, outcome)
    outcome, organization_id = await _act(session, workflows, settings, event_id, event_type, obj)
    await stripe_events.settle_event(session, event_id, outcome, organization_id)
    return Received(event_id, event_type, False, outcome)


async def _act(
    session: AsyncSession,
    workflows: WorkflowClient,
    settings: Settings,
    event_id: str,
    event_type: str,
    obj: dict[str, Any],
) -> tuple[str, int | None]:
    if event_type in ("payment_intent.succeeded", "payment_intent.payment_failed"):
        signalled = await signal_payment(session, workflows, settings, event_type, obj)
        return signalled.outcome, signalled.organization_id
    if event_type == "charge.refunded":
        checked = await refund_events.check_refund(session, event_id, obj)
        return checked.outcome, checked.organization_id
    if event_type == "charge.dispute.created":
        opened = await disputes.open_dispute(session, obj)
        return opened.outcome, opened.organization_id
    if event_type == "setup_intent.succeeded":
        saved = await payment_methods.store_from_setup_intent(session, settings, obj)
        return saved.outcome, saved.organization_id
    return "ignored", None
