"""chaos --gateway stripe reads Stripe's records through its list API: every PaymentIntent and
Refund tokenbill made, by key and organisation, and a key charged twice is a violation."""

import uuid
from decimal import Decimal

from activities.payments.stripe_gateway import StripeGateway
from chaos.gateway_book import GatewayBook, ProviderRecord, stripe_book
from chaos.provider_checks import one_provider_charge_per_key
from tests.payment_gateways import STANDIN_KEY, STRIPE_CARDS
from tokenbill.devstack.stripe_standin.server import StandinServer


async def test_stripe_book_lists_charges_and_refunds_by_key_and_organisation(
    session_maker, make_organization
):
    org = await make_organization()
    with StandinServer(STANDIN_KEY) as standin:
        gateway = StripeGateway(session_maker, secret_key=STANDIN_KEY, api_base=standin.url)
        keys = [f"purchase:{uuid.uuid4().hex}:charge" for _ in range(3)]
        charged = [
            await gateway.charge(
                idempotency_key=key,
                payment_method=STRIPE_CARDS.ok,
                amount=Decimal("2.50"),
                currency="USD",
                description="x",
                organization_id=org,
            )
            for key in keys
        ]
        await gateway.refund(
            idempotency_key=f"{keys[0]}:refund", charge_reference=charged[0].charge_reference,
            amount=Decimal("2.50"), currency="USD",
        )  # fmt: skip
        book = await stripe_book(standin.url, STANDIN_KEY)
    assert book.records is not None
    assert sorted(
        (r.operation, r.key, r.amount, r.organization_id) for r in book.records
    ) == sorted(
        [("charge", key, Decimal("2.50"), org) for key in keys]
        + [("refund", f"{keys[0]}:refund", Decimal("2.50"), org)]
    )
    assert one_provider_charge_per_key(book).passed


def test_a_key_charged_twice_at_the_provider_is_a_violation():
    twice = [
        ProviderRecord("purchase:x:charge", "charge", "succeeded", Decimal(1), 1, f"pi_{n}")
        for n in range(2)
    ]

    assert not one_provider_charge_per_key(GatewayBook(twice)).passed
