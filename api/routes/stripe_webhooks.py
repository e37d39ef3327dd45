"""Stripe's webhook endpoint: no bearer token; Stripe's signature (STRIPE_WEBHOOK_SECRET) is the
credential. A bad signature is refused (400, audited); an event id seen before answers 200 and
does nothing."""

from fastapi import APIRouter, Request

from api.deps import Session, SettingsDep, Workflows
from api.errors import ApiError
from api.openapi_errors import JSON_ERROR
from api.request_context import audit_context
from api.schemas.payments_provider import WebhookReceivedOut
from services.payments_provider.webhook_events import (
    BadSignature,
    receive,
    refuse_signature,
    verified_event,
)

router = APIRouter(prefix="/stripe", tags=["payment provider"])
SIGNATURE_HEADER = "Stripe-Signature"


@router.post(
    "/webhook",
    summary="Receive a Stripe event",
    responses={
        400: {"description": "Signature missing, wrong or too old.", "content": JSON_ERROR},
        409: {"description": "No webhook signing secret is set.", "content": JSON_ERROR},
        503: {"description": "Not acted on; Stripe delivers it again.", "content": JSON_ERROR},
    },
    description="Requires Stripe's signature instead of a bearer token: the body must carry a "
    "`Stripe-Signature` made with STRIPE_WEBHOOK_SECRET no more than 300 s ago (else 400 "
    "`invalid_signature`, audited). Each event id is acted on once: "
    "`payment_intent.succeeded`/`payment_intent.payment_failed` signal the purchase or renewal "
    "waiting for the customer's authentication, `charge.refunded` is checked against our "
    "refunds, `charge.dispute.created` freezes the disputed tokens, `setup_intent.succeeded` "
    "saves the card. Other types are recorded and ignored.",
)
async def stripe_webhook(
    request: Request, session: Session, settings: SettingsDep, workflows: Workflows
) -> WebhookReceivedOut:
    payload = await request.body()
    try:
        event = verified_event(settings, payload, request.headers.get(SIGNATURE_HEADER))
    except BadSignature as refused:
        await refuse_signature(session, str(refused), audit_context(request))
        await session.commit()
        raise ApiError(
            400, "invalid_signature",
            "The Stripe-Signature does not match this endpoint's signing secret, or is too old.",
        ) from refused  # fmt: skip
    received = await receive(session, workflows, settings, event)
    await session.commit()
    return WebhookReceivedOut(
        event_id=received.event_id, event_type=received.event_type,
        duplicate=received.duplicate, outcome=received.outcome,
    )  # fmt: skip
