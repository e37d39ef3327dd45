"""Bearer tokens from the host system's identity provider (IDENTITY_PROVIDER_* settings).

A token is the provider's when its header names an algorithm other than HS256 (tokenbill's own
tokens are HS256, checked against JWT_SECRET); it must name a key id the provider's JWKS
publishes, an algorithm the settings allow that is also that key's own algorithm (so neither
`none` nor an HMAC made with a public key gets through), and carry the provider's issuer, the
audience tokenbill is known by, and an expiry. It names a tokenbill user by its `email` claim
(refused when `email_verified` is present and not true) or by its `sub` claim, matched against
the user's external subject (`tokenbill user link-subject`), as IDENTITY_PROVIDER_USER_CLAIM says.
"""

from dataclasses import dataclass
from typing import Any, Literal

import httpx
import jwt

from api.auth.jwks_cache import JwksCache, jwks_client
from tokenbill.settings import Settings

LEEWAY_SECONDS = 30
UserClaim = Literal["email", "sub"]


class ForeignTokenRefused(Exception):
    """The token is not a valid token of the identity provider."""


@dataclass(frozen=True)
class ExternalIdentity:
    """Who the provider says the caller is: an email address or a subject."""

    claim: UserClaim
    value: str


def is_identity_provider_token(token: str) -> bool:
    """Whether the token's (unverified) header names an algorithm other than tokenbill's HS256."""
    try:
        algorithm = jwt.get_unverified_header(token).get("alg")
    except jwt.PyJWTError:
        return False
    return algorithm != "HS256"


class IdentityProvider:
    """Verifies the provider's tokens against its published keys, held in a JwksCache."""

    def __init__(self, settings: Settings, client: httpx.AsyncClient, keys: JwksCache) -> None:
        self._settings = settings
        self._client = client
        self._keys = keys

    @classmethod
    def from_settings(cls, settings: Settings) -> "IdentityProvider | None":
        """The provider the settings configure, or None when IDENTITY_PROVIDER_JWKS_URL is unset."""
        url = settings.identity_provider_jwks_url
        if url is None:
            return None
        client = jwks_client(settings.identity_provider_jwks_timeout.total_seconds())
        keys = JwksCache(
            client,
            url,
            ttl_seconds=settings.identity_provider_jwks_cache_ttl.total_seconds(),
            min_refetch_seconds=settings.identity_provider_jwks_min_refetch.total_seconds(),
        )
        return cls(settings, client, keys)

    async def close(self) -> None:
        await self._client.aclose()

    async def identify(self, token: str) -> ExternalIdentity:
        """The identity the token carries once verified; KeysUnavailable when no key can be had."""
        claims = await self._verified_claims(token)
        claim = self._settings.identity_provider_user_claim
        value = claims.get(claim)
        if not isinstance(value, str) or not value:
            raise ForeignTokenRefused(f"the token has no {claim} claim")
        if claim == "email" and claims.get("email_verified", True) is not True:
            raise ForeignTokenRefused("the token's email address is not verified")
        return ExternalIdentity(claim, value)

    async def _verified_claims(self, token: str) -> dict[str, Any]:
        settings = self._settings
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise ForeignTokenRefused(str(exc)) from exc
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in settings.identity_provider_algorithms:
            raise ForeignTokenRefused(f"algorithm {algorithm!r} is not allowed")
        if not isinstance(kid, str):
            raise ForeignTokenRefused("the token names no key id")
        key = await self._keys.key(kid)
        if key is None:
            raise ForeignTokenRefused("the identity provider publishes no key with that id")
        if key.algorithm_name != algorithm:
            raise ForeignTokenRefused("the token's algorithm is not its key's")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                issuer=settings.identity_provider_issuer,
                audience=settings.identity_provider_audience,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise ForeignTokenRefused(str(exc)) from exc
        return claims
