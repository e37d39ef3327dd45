"""A PaymentIntent that went to `requires_action` (SCA) leaves a purchase or a renewal waiting;
Stripe's `payment_intent.succeeded` / `payment_intent.payment_failed` tell its workflow, by the
business key the charge's metadata carries (`purchase_reference`, `subscription_id`)."""

from dataclasses import dataclass
from typing import Any

from services.errors import unavailable
from tokenbill.workflow_client import WorkflowClient, WorkflowNotRunning, WorkflowUnavailable

# The waiting workflows' signal handlers (workflows/purchase.py, workflows/subscription.py).
PAYMENT_CONFIRMED = "payment_confirmed"
PAYMENT_FAILED = "payment_failed"


@dataclass(frozen=True)
class SignalOutcome:
    outcome: str
    organization_id: int | None


def waiting_workflow_id(metadata: dict[str, Any]) -> str | None:
    """The workflow the charge was made for, from the PaymentIntent's metadata."""
    if metadata.get("purchase_reference"):
        return f"purchase-{metadata['purchase_reference']}"
    if metadata.get("subscription_id"):
        return f"subscription-{metadata['subscription_id']}"
    return None


def _organization(metadata: dict[str, Any]) -> int | None:
    value = str(metadata.get("organization_id") or "")
    return int(value) if value.isdigit() else None


async def signal_payment(
    workflows: WorkflowClient, event_type: str, intent: dict[str, Any]
) -> SignalOutcome:
    """Signal the waiting workflow. Temporal not reached: `unavailable` (503), so the event's
    record rolls back and Stripe delivers it again."""
    metadata = dict(intent.get("metadata") or {})
    organization_id = _organization(metadata)
    workflow_id = waiting_workflow_id(metadata)
    if workflow_id is None:
        return SignalOutcome("no_business_key", organization_id)
    succeeded = event_type == "payment_intent.succeeded"
    error = intent.get("last_payment_error") or {}
    argument = {
        "payment_intent_id": str(intent["id"]),
        "status": str(intent.get("status") or ""),
        "decline_code": error.get("decline_code") or error.get("code"),
    }
    try:
        await workflows.signal(
            workflow_id, PAYMENT_CONFIRMED if succeeded else PAYMENT_FAILED, argument
        )
    except WorkflowNotRunning:
        return SignalOutcome("no_waiting_workflow", organization_id)
    except WorkflowUnavailable as exc:
        raise unavailable(
            "workflows_unavailable", "The waiting workflow could not be told; send it again."
        ) from exc
    return SignalOutcome("signalled", organization_id)
