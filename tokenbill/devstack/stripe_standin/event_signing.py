"""Stripe's webhook signature: `Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
"<t>.<payload>" under the endpoint's secret>`, what `stripe.Webhook.construct_event` checks."""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Stripe-Signature"


def signature_header(payload: str, secret: str, timestamp: int | None = None) -> str:
    signed_at = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{signed_at}.{payload}".encode(), hashlib.sha256)
    return f"t={signed_at},v1={mac.hexdigest()}"


def signed_headers(payload: str, secret: str, timestamp: int | None = None) -> dict[str, str]:
    return {
        SIGNATURE_HEADER: signature_header(payload, secret, timestamp),
        "Content-Type": "application/json; charset=utf-8",
    }
