"""Stripe's errors as the gateway errors the workflows know: which declines a retry can cure."""

import stripe

from activities.payments.gateway import (
    GatewayError,
    GatewayTimeout,
    GatewayUnavailable,
    IdempotencyKeyMismatch,
    InvalidGatewayRequest,
    PaymentDeclined,
)

# Declines no retry with the same card can cure: the customer needs another payment method.
HARD_DECLINES = frozenset({
    "lost_card", "stolen_card", "expired_card", "pickup_card", "restricted_card", "fraudulent",
    "do_not_honor", "invalid_account", "invalid_number", "incorrect_number", "invalid_cvc",
    "incorrect_cvc", "invalid_expiry_month", "invalid_expiry_year", "card_not_supported",
    "currency_not_supported", "invalid_payment_method", "new_account_information_available",
    "stop_payment_order", "revocation_of_authorization", "revocation_of_all_authorizations",
    "security_violation", "merchant_blacklist", "transaction_not_allowed", "not_permitted",
    "service_not_allowed", "no_action_taken", "payment_method_not_available",
})  # fmt: skip
# Everything else (insufficient_funds, processing_error, generic_decline, try_again_later,
# issuer_not_available, ...) may succeed later: dunning retries those.


def decline_from(error: stripe.CardError) -> PaymentDeclined:
    code = error.code or "card_declined"
    decline_code = getattr(error.error, "decline_code", None) if error.error else None
    reason = decline_code if decline_code and decline_code != "generic_decline" else code
    hard = reason in HARD_DECLINES or code in HARD_DECLINES
    return PaymentDeclined(reason, error.user_message or "The card was declined.", hard=hard)


def gateway_error(error: stripe.StripeError, key: str) -> GatewayError:
    """The gateway error for any Stripe error but a card error (decline_from does those)."""
    if isinstance(error, stripe.IdempotencyError):
        if error.code == "idempotency_key_in_use":  # the first request is still running
            return GatewayUnavailable(f"request {key!r} is still in progress at Stripe")
        return IdempotencyKeyMismatch(key)
    if isinstance(error, stripe.APIConnectionError):
        # Refused, reset or timed out: it may have happened; the retry with the key tells.
        return GatewayTimeout(f"no answer from Stripe for {key!r}: {type(error).__name__}")
    if isinstance(error, stripe.RateLimitError):
        return GatewayUnavailable(f"Stripe rate limited {key!r}")
    if isinstance(error, stripe.InvalidRequestError):
        if error.code == "resource_missing" and error.param == "payment_method":
            return PaymentDeclined(
                "invalid_payment_method", "The payment method does not exist.", hard=True
            )
        return InvalidGatewayRequest(f"Stripe refused {key!r}: {error.code}: {error.user_message}")
    if isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
        # A configuration fault (the key): retried until an operator fixes it.
        return GatewayUnavailable(f"Stripe refused the API key ({error.http_status})")
    return GatewayUnavailable(
        f"Stripe failed on {key!r}: {error.http_status} {type(error).__name__}"
    )
