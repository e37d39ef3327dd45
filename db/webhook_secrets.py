"""Webhook signing secrets at rest: Fernet tokens under the keys WEBHOOK_SECRET_KEYS names.

The first key encrypts and every key decrypts (MultiFernet), so a key is rotated by putting a new
one first. A key derived from JWT_SECRET is always the last one tried, and the only one when no
key is set, so a deployment encrypts without configuring anything and keeps reading what it
wrote after it names keys of its own.
"""

import base64
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tokenbill.settings import Settings

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
HINT_LENGTH = 4
_DERIVATION_INFO = b"tokenbill webhook signing secrets v1"


class SecretUnreadable(RuntimeError):
    """A stored secret was encrypted under a key that is no longer configured."""


def new_signing_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_hint(secret: str) -> str:
    return secret[-HINT_LENGTH:]


def _derived_key(jwt_secret: str) -> bytes:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_DERIVATION_INFO).derive(
        jwt_secret.encode()
    )
    return base64.urlsafe_b64encode(key)


class SecretBox:
    """Encrypts and decrypts webhook signing secrets with the configured keys."""

    def __init__(self, settings: Settings) -> None:
        keys = [key.encode() for key in settings.webhook_secret_keys]
        keys.append(_derived_key(settings.jwt_secret))
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretUnreadable(
                "a webhook signing secret cannot be decrypted with WEBHOOK_SECRET_KEYS "
                "(or JWT_SECRET's key): was a key removed?"
            ) from exc
