"""Disputes: the stand-in's own `POST /_standin/charges/{id}/dispute?amount=&reason=` opens one
on a charge, as a cardholder's bank would (Stripe opens them; its API only reads and answers
them): the Dispute object, the disputed money taken from the balance (an `adjustment` balance
transaction) and `charge.dispute.created`. `GET /v1/disputes/{id}` reads it."""

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tokenbill.devstack.stripe_standin.charges import get_charge
from tokenbill.devstack.stripe_standin.endpoint import Call, stripe_endpoint
from tokenbill.devstack.stripe_standin.errors import StripeError, invalid_request, no_such
from tokenbill.devstack.stripe_standin.store import StandinStore, StripeObject


async def open_dispute(
    store: StandinStore, charge_id: str, amount: int | None = None, reason: str = "fraudulent"
) -> StripeObject:
    charge = get_charge(store, charge_id)
    disputed = charge["amount"] - charge["amount_refunded"] if amount is None else amount
    if not 0 < disputed <= charge["amount"]:
        raise invalid_request(f"Invalid dispute amount: {disputed}", param="amount")
    dispute_id = store.new_id("dp")
    txn = store.add_balance_transaction(
        type_="adjustment", amount=-disputed, currency=charge["currency"], source=dispute_id
    )
    dispute: StripeObject = {
        "id": dispute_id, "object": "dispute", "amount": disputed, "currency": charge["currency"],
        "charge": charge_id, "payment_intent": charge.get("payment_intent"),
        "created": store.now(), "livemode": False, "metadata": {}, "reason": reason,
        "status": "needs_response", "is_charge_refundable": False,
        "balance_transactions": [store.objects("balance_transaction")[txn]],
    }  # fmt: skip
    store.objects("dispute")[dispute_id] = dispute
    charge["disputed"] = True
    await store.emit("charge.dispute.created", dispute)
    return dispute


async def open_from_request(request: Request) -> Response:
    store: StandinStore = request.app.state.store
    raw = request.query_params.get("amount")
    async with store.lock:
        try:
            dispute = await open_dispute(
                store, request.path_params["id"], int(raw) if raw and raw.isdigit() else None,
                request.query_params.get("reason", "fraudulent"),
            )  # fmt: skip
        except StripeError as refused:
            return refused.response()
    await store.flush_events()
    return JSONResponse(dispute)


async def retrieve(call: Call) -> tuple[int, dict[str, Any]]:
    dispute = call.store.objects("dispute").get(call.path_params["id"])
    if dispute is None:
        raise no_such("dispute", call.path_params["id"])
    return 200, dispute


def routes() -> list[Route]:
    return [
        Route("/v1/disputes/{id}", stripe_endpoint(retrieve), methods=["GET"]),
        Route("/_standin/charges/{id}/dispute", open_from_request, methods=["POST"]),
    ]
