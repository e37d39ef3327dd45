"""Webhook signatures, Stripe-like: HMAC-SHA256 over `<timestamp>.<body>` with the endpoint's
secret, sent as `Tokenbill-Signature: t=<unix seconds>,v1=<hex digest>`. Pure functions, so the
delivery activity signs with them and a receiver (or a test) verifies with them."""

import hashlib
import hmac

SIGNATURE_HEADER = "Tokenbill-Signature"
TIMESTAMP_HEADER = "Tokenbill-Timestamp"
EVENT_ID_HEADER = "Tokenbill-Event-Id"
EVENT_TYPE_HEADER = "Tokenbill-Event-Type"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureMismatch(ValueError):
    """The signature header is missing, malformed, stale or does not match the body."""


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={compute_signature(secret, timestamp, body)}"


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    now: int,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> int:
    """Check a received signature header; returns its timestamp or raises SignatureMismatch."""
    if not header:
        raise SignatureMismatch(f"no {SIGNATURE_HEADER} header")
    fields: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        fields.setdefault(name, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError) as exc:
        raise SignatureMismatch("the signature header has no valid t= timestamp") from exc
    if abs(now - timestamp) > tolerance_seconds:
        raise SignatureMismatch("the signature timestamp is outside the tolerance")
    expected = compute_signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, given) for given in fields.get("v1", [])):
        raise SignatureMismatch("no v1 signature matches the body")
    return timestamp
