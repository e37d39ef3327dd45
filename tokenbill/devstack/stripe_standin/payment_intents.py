"""/v1/payment_intents: create (and confirm), confirm, retrieve, list; and the stand-in's own
`POST /_standin/payment_intents/{id}/authenticate?result=succeed|fail`, what the customer's
browser does on the page `next_action.redirect_to_url.url` points to (3-D Secure)."""

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tokenbill.devstack.stripe_standin.charges import new_charge
from tokenbill.devstack.stripe_standin.customers import get_customer
from tokenbill.devstack.stripe_standin.endpoint import Call, stripe_endpoint
from tokenbill.devstack.stripe_standin.errors import (
    StripeError,
    invalid_request,
    missing_param,
    no_such,
)
from tokenbill.devstack.stripe_standin.listing import list_page
from tokenbill.devstack.stripe_standin.payment_methods import test_card
from tokenbill.devstack.stripe_standin.store import StandinStore, StripeObject
from tokenbill.devstack.stripe_standin.test_cards import TestCard

AUTH_REQUIRED_MESSAGE = "Your card was declined. This transaction requires authentication."


def _true(value: Any) -> bool:
    return value in ("true", True)


def _amount(params: dict[str, Any]) -> int:
    raw = params.get("amount")
    if raw is None:
        raise missing_param("amount")
    if not str(raw).isdigit():
        raise invalid_request(f"Invalid integer: {raw}", param="amount")
    amount = int(raw)
    if amount < 1:
        raise invalid_request("This value must be greater than or equal to 1.", param="amount",
                              code="parameter_invalid_integer")  # fmt: skip
    if amount > 99999999:
        raise invalid_request("Amount must be no more than $999,999.99", param="amount",
                              code="amount_too_large")  # fmt: skip
    return amount


def get_intent(store: StandinStore, intent_id: str) -> StripeObject:
    intent = store.objects("payment_intent").get(intent_id)
    if intent is None:
        raise no_such("payment_intent", intent_id)
    return intent


def _new_intent(call: Call) -> StripeObject:
    params = call.params
    currency = params.get("currency")
    if not currency:
        raise missing_param("currency")
    if currency != currency.lower() or len(currency) != 3:
        raise invalid_request(f"Invalid currency: {currency}.", param="currency")
    customer = params.get("customer")
    if customer:
        get_customer(call.store, customer, "customer")
    intent_id = call.store.new_id("pi")
    return {
        "id": intent_id, "object": "payment_intent", "amount": _amount(params),
        "amount_received": 0, "capture_method": "automatic", "confirmation_method": "automatic",
        "client_secret": f"{intent_id}_secret_{call.store.new_id('s')[2:]}",
        "created": call.store.now(), "currency": currency, "customer": customer or None,
        "description": params.get("description"), "last_payment_error": None,
        "latest_charge": None, "livemode": False, "metadata": dict(params.get("metadata") or {}),
        "next_action": None, "payment_method": params.get("payment_method"),
        "payment_method_types": list(params.get("payment_method_types") or ["card"]),
        "setup_future_usage": params.get("setup_future_usage"),
        "status": "requires_confirmation" if params.get("payment_method")
        else "requires_payment_method",
    }  # fmt: skip


def _decline(intent: StripeObject, charge: StripeObject | None, card: TestCard, *,
             code: str, decline_code: str, message: str) -> StripeError:  # fmt: skip
    error = {
        "type": "card_error", "code": code, "decline_code": decline_code, "message": message,
        "charge": charge["id"] if charge else None,
        "payment_method": {"id": card.payment_method, "object": "payment_method", "type": "card"},
    }  # fmt: skip
    intent.update(status="requires_payment_method", last_payment_error=error, next_action=None)
    return StripeError(
        402, "card_error", message, code=code, decline_code=decline_code,
        extra={"charge": error["charge"], "payment_intent": intent,
               "payment_method": error["payment_method"]},
    )  # fmt: skip


async def _succeed(store: StandinStore, intent: StripeObject, card: TestCard) -> None:
    charge = new_charge(store, intent, card, succeeded=True)
    if card.behaviour == "dispute":
        charge["disputed"] = True
    intent.update(status="succeeded", latest_charge=charge["id"], amount_received=intent["amount"],
                  last_payment_error=None, next_action=None)  # fmt: skip
    await store.emit("charge.succeeded", charge)
    await store.emit("payment_intent.succeeded", intent)


async def _confirm(call: Call, intent: StripeObject, *, off_session: bool) -> StripeObject:
    """One confirmation attempt; a decline raises Stripe's 402 card_error (the intent inside)."""
    if intent["status"] in ("succeeded", "processing", "canceled"):
        raise invalid_request(
            f"This PaymentIntent's status is {intent['status']}, so it cannot be confirmed.",
            code="payment_intent_unexpected_state",
        )
    pm = intent.get("payment_method")
    if not pm:
        raise invalid_request(
            "You cannot confirm this PaymentIntent because it's missing a payment method.",
            code="payment_intent_unexpected_state",
        )
    card = test_card(pm)
    if card.behaviour == "decline":
        charge = new_charge(call.store, intent, card, succeeded=False)
        intent["latest_charge"] = charge["id"]
        error = _decline(
            intent, charge, card, code=card.code or "card_declined",
            decline_code=card.decline_code or "generic_decline", message=card.message,
        )  # fmt: skip
        await call.store.emit("payment_intent.payment_failed", intent)
        raise error
    if card.behaviour == "authenticate":
        if off_session:
            error = _decline(
                intent, None, card, code="authentication_required",
                decline_code="authentication_required", message=AUTH_REQUIRED_MESSAGE,
            )  # fmt: skip
            await call.store.emit("payment_intent.payment_failed", intent)
            raise error
        base = str(call.request.base_url).rstrip("/")
        url = f"{base}/_standin/payment_intents/{intent['id']}/authenticate"
        intent.update(status="requires_action", next_action={
            "type": "redirect_to_url",
            "redirect_to_url": {"url": url, "return_url": call.params.get("return_url")},
        })  # fmt: skip
        await call.store.emit("payment_intent.requires_action", intent)
        return intent
    await _succeed(call.store, intent, card)
    if card.behaviour == "timeout_once":
        call.hang_seconds = call.request.app.state.dice.faults.hang_seconds
    return intent


async def create(call: Call) -> tuple[int, dict[str, Any]]:
    intent = _new_intent(call)
    call.store.objects("payment_intent")[intent["id"]] = intent
    await call.store.emit("payment_intent.created", intent)
    if _true(call.params.get("confirm")):
        if intent["payment_method"]:
            test_card(intent["payment_method"])
        await _confirm(call, intent, off_session=_true(call.params.get("off_session")))
    return 200, intent


async def confirm(call: Call) -> tuple[int, dict[str, Any]]:
    intent = get_intent(call.store, call.path_params["id"])
    if call.params.get("payment_method"):
        test_card(call.params["payment_method"])
        intent["payment_method"] = call.params["payment_method"]
    await _confirm(call, intent, off_session=_true(call.params.get("off_session")))
    return 200, intent


async def retrieve(call: Call) -> tuple[int, dict[str, Any]]:
    return 200, get_intent(call.store, call.path_params["id"])


async def cancel(call: Call) -> tuple[int, dict[str, Any]]:
    intent = get_intent(call.store, call.path_params["id"])
    if intent["status"] in ("succeeded", "canceled", "processing"):
        raise invalid_request(
            "You cannot cancel this PaymentIntent because it has a status of "
            f"{intent['status']}. Only a PaymentIntent with one of the following statuses may be "
            "canceled: requires_payment_method, requires_capture, requires_confirmation, "
            "requires_action, processing.",
            code="payment_intent_unexpected_state",
        )
    intent.update(status="canceled", next_action=None,
                  cancellation_reason=call.params.get("cancellation_reason"))  # fmt: skip
    await call.store.emit("payment_intent.canceled", intent)
    return 200, intent


async def list_intents(call: Call) -> tuple[int, dict[str, Any]]:
    customer = call.params.get("customer")
    return 200, list_page(
        "/v1/payment_intents", call.store.objects("payment_intent").values(), call.params,
        lambda i: customer is None or i["customer"] == customer,
    )  # fmt: skip


async def authenticate(request: Request) -> Response:
    """The customer completes (or fails) 3-D Secure for an intent that requires action."""
    store: StandinStore = request.app.state.store
    async with store.lock:
        try:
            intent = get_intent(store, request.path_params["id"])
        except StripeError as missing:
            return missing.response()
        if intent["status"] != "requires_action":
            return JSONResponse(intent)
        card = test_card(intent["payment_method"])
        if request.query_params.get("result", "succeed") == "succeed":
            await _succeed(store, intent, card)
        else:
            intent.update(status="requires_payment_method", next_action=None, last_payment_error={
                "type": "card_error", "code": "payment_intent_authentication_failure",
                "message": "The provided PaymentMethod has failed authentication.",
            })  # fmt: skip
            await store.emit("payment_intent.payment_failed", intent)
        answer = JSONResponse(intent)
    await store.flush_events()
    return answer


def routes() -> list[Route]:
    return [
        Route("/v1/payment_intents", stripe_endpoint(create), methods=["POST"]),
        Route("/v1/payment_intents", stripe_endpoint(list_intents), methods=["GET"]),
        Route("/v1/payment_intents/{id}", stripe_endpoint(retrieve), methods=["GET"]),
        Route("/v1/payment_intents/{id}/confirm", stripe_endpoint(confirm), methods=["POST"]),
        Route("/v1/payment_intents/{id}/cancel", stripe_endpoint(cancel), methods=["POST"]),
        Route("/_standin/payment_intents/{id}/authenticate", authenticate, methods=["POST", "GET"]),
    ]
