"""Stripe's webhook endpoint over the app, the real database and Temporal: the signature is
checked with the SDK, each event id is acted on once, refunds are checked against ours."""

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import stripe

from tests.api.helpers import MakePackage, Maker, count_rows
from tests.api.stripe_helpers import (
    WEBHOOK_SECRET,
    deliver,
    emitted,
    paid_purchase,
    sdk,
    standin,
    stripe_api,
    stripe_settings,
)
from tokenbill.devstack.stripe_standin.event_signing import signature_header
from tokenbill.devstack.stripe_standin.server import StandinServer

__all__ = ["standin", "stripe_api", "stripe_settings"]


def test_signer_matches_the_sdk_verification() -> None:
    payload = '{"id": "evt_1", "object": "event", "type": "ping", "data": {"object": {}}}'
    header = signature_header(payload, WEBHOOK_SECRET)
    event = stripe.Webhook.construct_event(payload, header, WEBHOOK_SECRET, tolerance=300)
    assert event.id == "evt_1"


def _event(event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex}", "object": "event", "type": event_type,
        "created": int(time.time()), "livemode": False, "data": {"object": obj},
    }  # fmt: skip


async def test_bad_signature_is_refused_audited_and_not_recorded(
    stripe_api: httpx.AsyncClient, session_maker: Maker
) -> None:
    event = _event("payment_intent.succeeded", {"id": "pi_x", "metadata": {}})
    wrong_secret = await deliver(stripe_api, event, secret="whsec_someone_else")
    too_old = await deliver(stripe_api, event, timestamp=int(time.time()) - 301)
    unsigned = await stripe_api.post("/api/tokens/stripe/webhook", json=event)
    for answer in (wrong_secret, too_old, unsigned):
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "invalid_signature"
    assert await count_rows(session_maker, "stripe_events", "event_id = :e", e=event["id"]) == 0
    assert await count_rows(
        session_maker, "token_audit_logs",
        "action = 'stripe.webhook_refused' AND outcome = 'denied' AND request_id = :r",
        r=unsigned.headers["x-request-id"],
    ) == 1  # fmt: skip


async def test_same_event_id_is_acted_on_once(
    stripe_api: httpx.AsyncClient, session_maker: Maker
) -> None:
    event = _event("customer.created", {"id": "cus_x"})
    first = await deliver(stripe_api, event)
    again = await deliver(stripe_api, event)
    assert first.status_code == again.status_code == 200
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    assert first.json()["outcome"] == again.json()["outcome"] == "ignored"
    assert await count_rows(session_maker, "stripe_events", "event_id = :e", e=event["id"]) == 1


async def test_payment_nobody_waits_for_is_recorded_and_signals_nothing(
    stripe_api: httpx.AsyncClient, make_organization: Callable[..., Awaitable[int]]
) -> None:
    org = await make_organization()
    intent = {"id": f"pi_{uuid.uuid4().hex}", "status": "succeeded",
              "metadata": {"organization_id": str(org)}}  # fmt: skip
    answer = await deliver(stripe_api, _event("payment_intent.succeeded", intent))
    assert answer.json()["outcome"] == "no_waiting_payment"


async def test_refund_made_outside_tokenbill_is_flagged_to_finance(
    stripe_api: httpx.AsyncClient,
    standin: StandinServer,
    session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
    make_package: MakePackage,
) -> None:
    org = await make_organization()
    purchase = await paid_purchase(session_maker, standin, org, await make_package())
    refund = await sdk(standin).v1.refunds.create_async(
        params={"payment_intent": purchase.payment_intent}
    )
    answer = await deliver(stripe_api, emitted(standin, "charge.refunded", purchase.charge))
    assert answer.json()["outcome"] == "refund_unmatched", refund.id
    assert await count_rows(
        session_maker, "notification_events",
        "event_type = 'payment_provider.refund_unmatched' AND organization_id = :o", o=org,
    ) == 1  # fmt: skip


async def test_webhook_without_a_signing_secret_is_not_configured(
    client: httpx.AsyncClient,
) -> None:
    answer = await deliver(client, _event("customer.created", {"id": "cus_y"}))
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "payment_provider_not_configured"
