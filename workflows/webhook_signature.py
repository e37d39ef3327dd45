"""Webhook signatures in the Standard Webhooks format (https://www.standardwebhooks.com):
`webhook-signature: v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">`, keyed
with the base64-decoded part of the `whsec_` secret; during a rotation one signature per secret,
space-separated. Pure functions, so the delivery activity signs with them and a receiver (or a
test) verifies with them, as any Standard Webhooks library does."""

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
EVENT_TYPE_HEADER = "Tokenbill-Event-Type"
SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureMismatch(ValueError):
    """The signature headers are missing, malformed, stale or do not match the body."""


def signing_key(secret: str) -> bytes:
    """The HMAC key: the bytes the secret's base64 stands for (decoded as the libraries do)."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(encoded + "==")


def compute_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    message = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), message, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def signature_header(secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
    """One signature per secret (two while a rotation's overlap lasts), space-separated."""
    return " ".join(compute_signature(s, message_id, timestamp, body) for s in secrets)


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: int,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> int:
    """Check a received request's headers; returns its timestamp or raises SignatureMismatch."""
    lowered = {name.lower(): value for name, value in headers.items()}
    message_id = lowered.get(ID_HEADER)
    signatures = lowered.get(SIGNATURE_HEADER)
    if not message_id or not signatures:
        raise SignatureMismatch(f"no {ID_HEADER} or {SIGNATURE_HEADER} header")
    try:
        timestamp = int(lowered.get(TIMESTAMP_HEADER, ""))
    except ValueError as exc:
        raise SignatureMismatch(f"no valid {TIMESTAMP_HEADER} header") from exc
    if abs(now - timestamp) > tolerance_seconds:
        raise SignatureMismatch("the signature timestamp is outside the tolerance")
    try:
        expected = compute_signature(secret, message_id, timestamp, body)
    except binascii.Error as exc:
        raise SignatureMismatch("the secret is not base64") from exc
    if not any(hmac.compare_digest(expected, given) for given in signatures.split(" ")):
        raise SignatureMismatch("no v1 signature matches the body")
    return timestamp
