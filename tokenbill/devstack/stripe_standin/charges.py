"""/v1/charges: the charge a PaymentIntent attempt makes (retrieve, list)."""

from typing import Any

from starlette.routing import Route

from tokenbill.devstack.stripe_standin.endpoint import Call, stripe_endpoint
from tokenbill.devstack.stripe_standin.errors import no_such
from tokenbill.devstack.stripe_standin.listing import list_page
from tokenbill.devstack.stripe_standin.store import StandinStore, StripeObject
from tokenbill.devstack.stripe_standin.test_cards import TestCard


def new_charge(
    store: StandinStore, intent: StripeObject, card: TestCard, *, succeeded: bool
) -> StripeObject:
    """The charge of one attempt of `intent`; a succeeded one moves money into the balance."""
    charge_id = store.new_id("ch")
    amount = int(intent["amount"])
    txn = None
    if succeeded:
        txn = store.add_balance_transaction(
            type_="charge", amount=amount, currency=intent["currency"], source=charge_id
        )
    charge: StripeObject = {
        "id": charge_id, "object": "charge", "amount": amount,
        "amount_captured": amount if succeeded else 0, "amount_refunded": 0,
        "balance_transaction": txn, "captured": succeeded, "created": store.now(),
        "currency": intent["currency"], "customer": intent["customer"],
        "description": intent["description"], "disputed": False,
        "failure_code": None if succeeded else card.code,
        "failure_message": None if succeeded else card.message, "livemode": False,
        "metadata": dict(intent["metadata"]),
        "outcome": {
            "network_status": "approved_by_network" if succeeded else "declined_by_network",
            "reason": None if succeeded else card.decline_code,
            "type": "authorized" if succeeded else "issuer_declined",
            "seller_message": "Payment complete." if succeeded else "The bank declined it.",
        },
        "paid": succeeded, "payment_intent": intent["id"],
        "payment_method": card.payment_method,
        "payment_method_details": {
            "type": "card", "card": {"brand": card.brand, "last4": card.last4}
        },
        "refunded": False, "status": "succeeded" if succeeded else "failed",
    }  # fmt: skip
    store.objects("charge")[charge_id] = charge
    return charge


def get_charge(store: StandinStore, charge_id: str, param: str = "id") -> StripeObject:
    charge = store.objects("charge").get(charge_id)
    if charge is None:
        raise no_such("charge", charge_id, param)
    return charge


async def retrieve(call: Call) -> tuple[int, dict[str, Any]]:
    return 200, get_charge(call.store, call.path_params["id"])


async def list_charges(call: Call) -> tuple[int, dict[str, Any]]:
    wanted = {k: call.params[k] for k in ("customer", "payment_intent") if k in call.params}
    return 200, list_page(
        "/v1/charges", call.store.objects("charge").values(), call.params,
        lambda c: all(c.get(k) == v for k, v in wanted.items()),
    )  # fmt: skip


def routes() -> list[Route]:
    return [
        Route("/v1/charges", stripe_endpoint(list_charges), methods=["GET"]),
        Route("/v1/charges/{id}", stripe_endpoint(retrieve), methods=["GET"]),
    ]
