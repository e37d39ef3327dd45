"""/v1/payment_methods/{id}: the test payment methods as PaymentMethod objects (brand, last4)."""

from typing import Any

from starlette.routing import Route

from tokenbill.devstack.stripe_standin.endpoint import Call, stripe_endpoint
from tokenbill.devstack.stripe_standin.errors import no_such
from tokenbill.devstack.stripe_standin.store import StandinStore, StripeObject
from tokenbill.devstack.stripe_standin.test_cards import TEST_CARDS, TestCard


def test_card(payment_method: str, param: str = "payment_method") -> TestCard:
    card = TEST_CARDS.get(payment_method)
    if card is None:
        raise no_such("PaymentMethod", payment_method, param)
    return card


def payment_method_object(store: StandinStore, card: TestCard) -> StripeObject:
    attached = store.objects("payment_method_attachment").get(card.payment_method)
    return {
        "id": card.payment_method, "object": "payment_method", "type": "card",
        "created": store.now(), "livemode": False, "metadata": {},
        "customer": attached["customer"] if attached else None,
        "billing_details": {"address": None, "email": None, "name": None, "phone": None},
        "card": {"brand": card.brand, "last4": card.last4, "exp_month": 12, "exp_year": 2034,
                 "funding": "credit", "country": "US"},
    }  # fmt: skip


async def retrieve(call: Call) -> tuple[int, dict[str, Any]]:
    card = test_card(call.path_params["id"], "id")
    return 200, payment_method_object(call.store, card)


def routes() -> list[Route]:
    return [Route("/v1/payment_methods/{id}", stripe_endpoint(retrieve), methods=["GET"])]
