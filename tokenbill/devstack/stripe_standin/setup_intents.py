"""/v1/setup_intents: create (usage `off_session`), retrieve, confirm with a test payment method;
a confirmed one attaches the card to the customer and emits `setup_intent.succeeded`. The
stand-in's own `POST /_standin/setup_intents/{id}/confirm?payment_method=pm_card_visa` is what
Stripe.js does in the customer's browser with the client_secret."""

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tokenbill.devstack.stripe_standin.customers import get_customer
from tokenbill.devstack.stripe_standin.endpoint import Call, stripe_endpoint
from tokenbill.devstack.stripe_standin.errors import StripeError, invalid_request, no_such
from tokenbill.devstack.stripe_standin.payment_methods import test_card
from tokenbill.devstack.stripe_standin.store import StandinStore, StripeObject


def get_setup_intent(store: StandinStore, intent_id: str) -> StripeObject:
    intent = store.objects("setup_intent").get(intent_id)
    if intent is None:
        raise no_such("setup_intent", intent_id)
    return intent


async def create(call: Call) -> tuple[int, dict[str, Any]]:
    params = call.params
    customer = params.get("customer")
    if customer:
        get_customer(call.store, customer, "customer")
    usage = params.get("usage", "off_session")
    if usage not in ("off_session", "on_session"):
        raise invalid_request(f"Invalid usage: {usage}", param="usage")
    intent_id = call.store.new_id("seti")
    intent: StripeObject = {
        "id": intent_id, "object": "setup_intent", "created": call.store.now(),
        "client_secret": f"{intent_id}_secret_{call.store.new_id('s')[2:]}",
        "customer": customer, "usage": usage, "livemode": False,
        "metadata": dict(params.get("metadata") or {}),
        "payment_method": None, "payment_method_types": params.get("payment_method_types")
        or ["card"], "status": "requires_payment_method", "last_setup_error": None,
        "next_action": None,
    }  # fmt: skip
    call.store.objects("setup_intent")[intent_id] = intent
    return 200, intent


async def retrieve(call: Call) -> tuple[int, dict[str, Any]]:
    return 200, get_setup_intent(call.store, call.path_params["id"])


async def _confirm(store: StandinStore, intent: StripeObject, payment_method: str) -> None:
    if intent["status"] == "succeeded":
        raise invalid_request("This SetupIntent has already succeeded.")
    card = test_card(payment_method)
    if card.behaviour == "decline":
        intent["last_setup_error"] = {
            "type": "card_error", "code": card.code, "decline_code": card.decline_code,
            "message": card.message,
        }  # fmt: skip
        await store.emit("setup_intent.setup_failed", intent)
        return
    intent.update(status="succeeded", payment_method=payment_method, last_setup_error=None)
    if intent["customer"]:
        store.objects("payment_method_attachment")[payment_method] = {
            "customer": intent["customer"]
        }
    await store.emit("setup_intent.succeeded", intent)


async def confirm(call: Call) -> tuple[int, dict[str, Any]]:
    intent = get_setup_intent(call.store, call.path_params["id"])
    await _confirm(call.store, intent, str(call.params.get("payment_method") or ""))
    return 200, intent


async def confirm_in_browser(request: Request) -> Response:
    """What Stripe.js does with the client_secret: confirm with the card the customer typed."""
    store: StandinStore = request.app.state.store
    async with store.lock:
        try:
            intent = get_setup_intent(store, request.path_params["id"])
            method = request.query_params.get("payment_method", "pm_card_visa")
            await _confirm(store, intent, method)
        except StripeError as refused:
            return refused.response()
        answer = JSONResponse(intent)
    await store.flush_events()
    return answer


def routes() -> list[Route]:
    return [
        Route("/v1/setup_intents", stripe_endpoint(create), methods=["POST"]),
        Route("/v1/setup_intents/{id}", stripe_endpoint(retrieve), methods=["GET"]),
        Route("/v1/setup_intents/{id}/confirm", stripe_endpoint(confirm), methods=["POST"]),
        Route("/_standin/setup_intents/{id}/confirm", confirm_in_browser, methods=["POST"]),
    ]
