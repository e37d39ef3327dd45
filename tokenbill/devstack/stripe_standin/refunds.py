"""/v1/refunds: create (of a charge or a payment intent's latest charge), retrieve, list."""

from typing import Any

from starlette.routing import Route

from tokenbill.devstack.stripe_standin.charges import get_charge
from tokenbill.devstack.stripe_standin.endpoint import Call, stripe_endpoint
from tokenbill.devstack.stripe_standin.errors import invalid_request, no_such
from tokenbill.devstack.stripe_standin.listing import list_page
from tokenbill.devstack.stripe_standin.payment_intents import get_intent


def _charge_of(call: Call) -> dict[str, Any]:
    if call.params.get("charge"):
        return get_charge(call.store, call.params["charge"], "charge")
    if call.params.get("payment_intent"):
        intent = get_intent(call.store, call.params["payment_intent"])
        if intent["status"] != "succeeded" or not intent["latest_charge"]:
            raise invalid_request(
                f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        return get_charge(call.store, intent["latest_charge"])
    raise invalid_request("One of the following params should be provided for this request: "
                          "payment_intent or charge.")  # fmt: skip


async def create(call: Call) -> tuple[int, dict[str, Any]]:
    charge = _charge_of(call)
    if charge["status"] != "succeeded":
        raise invalid_request(
            f"Charge {charge['id']} has not been captured.", code="charge_not_refundable"
        )
    if charge["disputed"]:
        raise invalid_request(
            f"Charge {charge['id']} has been charged back; cannot issue a refund.",
            code="charge_disputed",
        )
    left = charge["amount"] - charge["amount_refunded"]
    if left == 0:
        raise invalid_request(f"Charge {charge['id']} has already been refunded.",
                              code="charge_already_refunded")  # fmt: skip
    raw = call.params.get("amount", str(left))
    if not str(raw).isdigit() or int(raw) < 1:
        raise invalid_request(f"Invalid positive integer: {raw}", param="amount")
    amount = int(raw)
    if amount > left:
        raise invalid_request(
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
            param="amount", code="amount_too_large",
        )  # fmt: skip
    refund_id = call.store.new_id("re")
    txn = call.store.add_balance_transaction(
        type_="refund", amount=-amount, currency=charge["currency"], source=refund_id
    )
    refund = {
        "id": refund_id, "object": "refund", "amount": amount, "balance_transaction": txn,
        "charge": charge["id"], "created": call.store.now(), "currency": charge["currency"],
        "metadata": dict(call.params.get("metadata") or {}),
        "payment_intent": charge["payment_intent"], "reason": call.params.get("reason"),
        "status": "succeeded",
    }  # fmt: skip
    call.store.objects("refund")[refund_id] = refund
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    await call.store.emit("refund.created", refund)
    await call.store.emit("charge.refunded", charge)
    return 200, refund


async def retrieve(call: Call) -> tuple[int, dict[str, Any]]:
    refund = call.store.objects("refund").get(call.path_params["id"])
    if refund is None:
        raise no_such("refund", call.path_params["id"])
    return 200, refund


async def list_refunds(call: Call) -> tuple[int, dict[str, Any]]:
    wanted = {k: call.params[k] for k in ("charge", "payment_intent") if k in call.params}
    return 200, list_page(
        "/v1/refunds", call.store.objects("refund").values(), call.params,
        lambda r: all(r.get(k) == v for k, v in wanted.items()),
    )  # fmt: skip


def routes() -> list[Route]:
    return [
        Route("/v1/refunds", stripe_endpoint(create), methods=["POST"]),
        Route("/v1/refunds", stripe_endpoint(list_refunds), methods=["GET"]),
        Route("/v1/refunds/{id}", stripe_endpoint(retrieve), methods=["GET"]),
    ]
