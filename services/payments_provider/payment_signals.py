"""A payment that went to `requires_action` (SCA) leaves a purchase or a renewal waiting; the
Stripe gateway kept it in stripe_payment_actions with the waiting workflow's id. Stripe's
`payment_intent.succeeded` / `payment_intent.payment_failed` resolve it there and signal that
workflow (`payment_confirmed` / `payment_failed`, workflows/payment_action_types.py)."""

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from db.stripe_customers import payment_action, resolve_payment_action
from services.errors import unavailable
from services.payments_provider.late_payments import settle_late_payment
from tokenbill.settings import Settings
from tokenbill.workflow_client import WorkflowClient, WorkflowNotRunning, WorkflowUnavailable
from workflows.payment_action_types import (
    PAYMENT_CONFIRMED_SIGNAL,
    PAYMENT_FAILED_SIGNAL,
    PaymentConfirmation,
    PaymentFailure,
)


@dataclass(frozen=True)
class SignalOutcome:
    outcome: str
    organization_id: int | None


def _organization(metadata: dict[str, Any]) -> int | None:
    value = str(metadata.get("organization_id") or "")
    return int(value) if value.isdigit() else None


def _failure_reason(intent: dict[str, Any]) -> str:
    error = intent.get("last_payment_error") or {}
    return str(error.get("message") or "The customer's authentication failed.")


async def signal_payment(
    session: AsyncSession,
    workflows: WorkflowClient,
    settings: Settings,
    event_type: str,
    intent: dict[str, Any],
) -> SignalOutcome:
    """Resolve the waiting payment and signal its workflow, in the caller's transaction. Temporal
    not reached: `unavailable` (503), so the resolution rolls back and Stripe delivers again. A
    success nobody waits for any more is settled as a late payment (late_payments.py)."""
    organization_id = _organization(dict(intent.get("metadata") or {}))
    if organization_id is None:
        return SignalOutcome("no_organization", None)
    succeeded = event_type == "payment_intent.succeeded"
    waiting = await resolve_payment_action(
        session, organization_id, str(intent["id"]), "succeeded" if succeeded else "failed"
    )
    if waiting is None:
        kept = await payment_action(session, organization_id, str(intent["id"]))
        if succeeded and kept is not None and kept.status != "succeeded":
            late = await settle_late_payment(session, settings, kept, intent)
            return SignalOutcome(late.outcome, organization_id)
        return SignalOutcome("no_waiting_payment", organization_id)
    signal = PAYMENT_CONFIRMED_SIGNAL if succeeded else PAYMENT_FAILED_SIGNAL
    argument: BaseModel = (
        PaymentConfirmation(payment_reference=str(intent["id"]))
        if succeeded
        else PaymentFailure(payment_reference=str(intent["id"]), reason=_failure_reason(intent))
    )
    try:
        await workflows.signal(waiting.workflow_id, signal, argument)
    except WorkflowNotRunning:
        if succeeded:
            late = await settle_late_payment(session, settings, waiting, intent)
            return SignalOutcome(late.outcome, organization_id)
        return SignalOutcome("no_waiting_workflow", organization_id)
    except WorkflowUnavailable as exc:
        raise unavailable(
            "workflows_unavailable", "The waiting workflow could not be told; send it again."
        ) from exc
    return SignalOutcome("signalled", organization_id)
