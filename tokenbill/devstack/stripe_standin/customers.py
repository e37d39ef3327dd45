"""/v1/customers: create, retrieve, update (invoice_settings.default_payment_method)."""

from typing import Any

from starlette.routing import Route

from tokenbill.devstack.stripe_standin.endpoint import Call, stripe_endpoint
from tokenbill.devstack.stripe_standin.errors import no_such
from tokenbill.devstack.stripe_standin.store import StandinStore, StripeObject


def get_customer(store: StandinStore, customer_id: str, param: str = "id") -> StripeObject:
    customer = store.objects("customer").get(customer_id)
    if customer is None:
        raise no_such("customer", customer_id, param)
    return customer


def _apply(customer: StripeObject, params: dict[str, Any]) -> None:
    for field in ("email", "name", "description"):
        if field in params:
            customer[field] = params[field] or None
    if "metadata" in params:
        customer["metadata"].update(params["metadata"] or {})
    default = (params.get("invoice_settings") or {}).get("default_payment_method")
    if default is not None:
        customer["invoice_settings"]["default_payment_method"] = default or None


async def create(call: Call) -> tuple[int, dict[str, Any]]:
    customer: StripeObject = {
        "id": call.store.new_id("cus"), "object": "customer", "created": call.store.now(),
        "email": None, "name": None, "description": None, "livemode": False, "metadata": {},
        "invoice_settings": {"default_payment_method": None}, "balance": 0, "currency": None,
        "delinquent": False,
    }  # fmt: skip
    _apply(customer, call.params)
    call.store.objects("customer")[customer["id"]] = customer
    return 200, customer


async def retrieve(call: Call) -> tuple[int, dict[str, Any]]:
    return 200, get_customer(call.store, call.path_params["id"])


async def update(call: Call) -> tuple[int, dict[str, Any]]:
    customer = get_customer(call.store, call.path_params["id"])
    _apply(customer, call.params)
    return 200, customer


def routes() -> list[Route]:
    return [
        Route("/v1/customers", stripe_endpoint(create), methods=["POST"]),
        Route("/v1/customers/{id}", stripe_endpoint(retrieve), methods=["GET"]),
        Route("/v1/customers/{id}", stripe_endpoint(update), methods=["POST"]),
    ]
