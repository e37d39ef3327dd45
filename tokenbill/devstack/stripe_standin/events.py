"""Stripe's events: every change the stand-in's resources emit becomes an Event object
(`evt_...`, `data.object`), listed at /v1/events; with a webhook endpoint registered
(`POST /v1/webhook_endpoints`, url + its answer's `secret`), each event is also POSTed there,
signed as Stripe signs (event_signing.py), after the request that made it has answered."""

import asyncio
import json
import logging
from typing import Any

import httpx
from starlette.routing import Route

from tokenbill.devstack.stripe_standin.endpoint import Call, stripe_endpoint
from tokenbill.devstack.stripe_standin.errors import missing_param, no_such
from tokenbill.devstack.stripe_standin.event_signing import signed_headers
from tokenbill.devstack.stripe_standin.listing import list_page
from tokenbill.devstack.stripe_standin.store import StandinStore, StripeObject

logger = logging.getLogger("tokenbill.stripe_standin.events")
API_VERSION = "2025-01-27.acacia"
DELIVERY_TIMEOUT_SECONDS = 10.0
_deliveries: set[asyncio.Task[None]] = set()


def event_object(store: StandinStore, event_type: str, obj: StripeObject) -> StripeObject:
    return {
        "id": store.new_id("evt"), "object": "event", "api_version": API_VERSION,
        "created": store.now(), "livemode": False, "pending_webhooks": 0,
        "request": {"id": None, "idempotency_key": None}, "type": event_type,
        "data": {"object": json.loads(json.dumps(obj))},
    }  # fmt: skip


def install(store: StandinStore) -> None:
    """Record every emitted change as an event (and send it to the registered endpoints)."""

    async def record(event_type: str, obj: StripeObject) -> None:
        event = event_object(store, event_type, obj)
        store.objects("event")[event["id"]] = event
        for endpoint in list(store.objects("webhook_endpoint").values()):
            enabled = endpoint["enabled_events"]
            if "*" not in enabled and event_type not in enabled:
                continue
            task = asyncio.get_running_loop().create_task(_deliver(endpoint, event))
            _deliveries.add(task)
            task.add_done_callback(_deliveries.discard)

    store.event_listeners.append(record)


async def _deliver(endpoint: StripeObject, event: StripeObject) -> None:
    payload = json.dumps(event)
    try:
        async with httpx.AsyncClient(timeout=DELIVERY_TIMEOUT_SECONDS) as client:
            answer = await client.post(
                endpoint["url"], content=payload,
                headers=signed_headers(payload, endpoint["secret"]),
            )  # fmt: skip
        logger.info("event %s delivered: %s", event["id"], answer.status_code)
    except httpx.HTTPError as exc:
        logger.warning("event %s not delivered to %s: %s", event["id"], endpoint["url"], exc)


async def list_events(call: Call) -> tuple[int, dict[str, Any]]:
    wanted = call.params.get("type")
    return 200, list_page(
        "/v1/events", call.store.objects("event").values(), call.params,
        lambda e: wanted is None or e["type"] == wanted,
    )  # fmt: skip


async def retrieve(call: Call) -> tuple[int, dict[str, Any]]:
    event = call.store.objects("event").get(call.path_params["id"])
    if event is None:
        raise no_such("event", call.path_params["id"])
    return 200, event


async def create_endpoint(call: Call) -> tuple[int, dict[str, Any]]:
    url = call.params.get("url")
    if not url:
        raise missing_param("url")
    endpoint: StripeObject = {
        "id": call.store.new_id("we"), "object": "webhook_endpoint", "url": url,
        "enabled_events": call.params.get("enabled_events") or ["*"], "status": "enabled",
        "secret": call.store.new_id("whsec"), "created": call.store.now(), "livemode": False,
    }  # fmt: skip
    call.store.objects("webhook_endpoint")[endpoint["id"]] = endpoint
    return 200, endpoint


def routes() -> list[Route]:
    return [
        Route("/v1/events", stripe_endpoint(list_events), methods=["GET"]),
        Route("/v1/events/{id}", stripe_endpoint(retrieve), methods=["GET"]),
        Route("/v1/webhook_endpoints", stripe_endpoint(create_endpoint), methods=["POST"]),
    ]


def register_webhook_endpoint(standin_url: str, api_key: str, url: str) -> str:
    """Register `url` for every event at a running stand-in; its signing secret (`tokenbill dev`
    gives it to the API as STRIPE_WEBHOOK_SECRET)."""
    answer = httpx.post(
        f"{standin_url}/v1/webhook_endpoints",
        data={"url": url, "enabled_events[]": "*"},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=DELIVERY_TIMEOUT_SECONDS,
    )
    answer.raise_for_status()
    secret: str = answer.json()["secret"]
    return secret
