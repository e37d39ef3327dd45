"""The Stripe API client the services use (async, httpx), at STRIPE_API_BASE with
STRIPE_SECRET_KEY; refused with `payment_provider_not_configured` unless PAYMENT_GATEWAY=stripe."""

import stripe

from services.errors import ServiceError, conflict, unavailable
from tokenbill.settings import Settings

REQUEST_TIMEOUT_SECONDS = 20.0


def not_configured() -> ServiceError:
    return conflict(
        "payment_provider_not_configured",
        "No card payment provider is configured here (PAYMENT_GATEWAY is not `stripe`): "
        "payment methods and provider records are Stripe's.",
    )


def stripe_client(settings: Settings) -> stripe.StripeClient:
    if settings.payment_gateway != "stripe" or not settings.stripe_secret_key.get_secret_value():
        raise not_configured()
    return stripe.StripeClient(
        settings.stripe_secret_key.get_secret_value(),
        base_addresses={"api": settings.stripe_api_base},
        http_client=stripe.HTTPXClient(timeout=REQUEST_TIMEOUT_SECONDS),
        max_network_retries=2,
    )


def provider_unavailable(exc: stripe.StripeError) -> ServiceError:
    """A Stripe call that failed: nothing of ours changed; the caller may try again."""
    return unavailable(
        "payment_provider_unavailable",
        "The payment provider did not do what was asked; nothing was changed, try again.",
        {"provider_code": exc.code} if exc.code else None,
    )
