"""The card an organisation saves for off-session charges (renewals, top-ups): a SetupIntent
(usage off_session) on the organisation's Stripe Customer, confirmed by the client with the
answer's client_secret; `setup_intent.succeeded` makes the card the customer's default
(invoice_settings.default_payment_method) and keeps what shows it (brand, last four, expiry)."""

from dataclasses import dataclass
from typing import Any

import stripe
from sqlalchemy.ext.asyncio import AsyncSession

from db import stripe_customers
from db import stripe_payment_methods as saved
from db.audit import Actor, RequestContext
from db.stripe_payment_methods import SavedCard
from services import audit
from services.payments_provider.stripe_api import (
    not_configured,
    provider_unavailable,
    stripe_client,
)
from tokenbill.settings import Settings


def customer_key(organization_id: int) -> str:
    """The Idempotency-Key activities/payments/stripe_gateway.py creates the Customer with."""
    return f"customer:{organization_id}"


@dataclass(frozen=True)
class SetupStarted:
    setup_intent_id: str
    client_secret: str
    customer_id: str
    publishable_key: str | None


@dataclass(frozen=True)
class CardStored:
    outcome: str
    organization_id: int | None


async def start_setup(
    session: AsyncSession,
    settings: Settings,
    organization_id: int,
    *,
    actor: Actor,
    context: RequestContext | None,
) -> SetupStarted:
    client = stripe_client(settings)
    try:
        customer = await _customer(session, client, organization_id)
        intent = await client.v1.setup_intents.create_async(
            params={  # type: ignore[arg-type]
                "customer": customer,
                "usage": "off_session",
                "payment_method_types": ["card"],
                "metadata": {"organization_id": str(organization_id)},
            }
        )
    except stripe.StripeError as exc:
        raise provider_unavailable(exc) from exc
    await audit.record(
        session, actor, "payment_method.setup_started",
        audit.Target("organization", organization_id, organization_id), None,
        {"setup_intent": intent.id, "customer": customer}, context,
    )  # fmt: skip
    return SetupStarted(
        intent.id, intent.client_secret or "", customer, settings.stripe_publishable_key or None
    )


async def _customer(
    session: AsyncSession, client: stripe.StripeClient, organization_id: int
) -> str:
    """The organisation's Stripe Customer, created once under the key the Stripe gateway uses,
    so a first charge and a first setup make one Customer."""
    known = await stripe_customers.customer_of(session, organization_id)
    if known is not None:
        return known
    created = await client.v1.customers.create_async(
        params={"metadata": {"organization_id": str(organization_id)}},
        options={"idempotency_key": customer_key(organization_id)},
    )
    return await stripe_customers.keep_customer(session, organization_id, created.id)


async def current_card(
    session: AsyncSession, settings: Settings, organization_id: int
) -> SavedCard | None:
    if settings.payment_gateway != "stripe":
        raise not_configured()
    return await saved.saved_card(session, organization_id)


async def store_from_setup_intent(
    session: AsyncSession, settings: Settings, intent: dict[str, Any]
) -> CardStored:
    """Make the confirmed SetupIntent's card the organisation's default, and keep its look."""
    customer = str(intent.get("customer") or "")
    method = str(intent.get("payment_method") or "")
    organization_id = await saved.organization_of_customer(session, customer)
    if organization_id is None or not method:
        return CardStored("setup_for_unknown_customer", None)
    client = stripe_client(settings)
    try:
        card = (await client.v1.payment_methods.retrieve_async(method)).card
        await client.v1.customers.update_async(
            customer, params={"invoice_settings": {"default_payment_method": method}}
        )
    except stripe.StripeError as exc:
        raise provider_unavailable(exc) from exc
    if card is None:
        return CardStored("setup_without_card", organization_id)
    stored = SavedCard(method, card.brand, card.last4, card.exp_month, card.exp_year)
    await saved.save_card(session, organization_id, stored)
    await audit.record(
        session, Actor.system("stripe"), "payment_method.saved",
        audit.Target("organization", organization_id, organization_id), None,
        {"payment_method": method, "brand": stored.brand, "last4": stored.last4}, None,
    )  # fmt: skip
    return CardStored("payment_method_saved", organization_id)
