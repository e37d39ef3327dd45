"""The identity provider's signing keys, fetched from its JWKS URL and kept in memory.

The key set is fetched on first use and again once it is older than its time to live. A token
naming a key id the set does not hold makes one refetch (a rotation at the provider), but at most
one per minimum interval, so a flood of made-up key ids cannot turn into a flood of fetches.
Concurrent requests share one fetch. When a refresh fails, the keys already held keep serving;
only when no key can be had is the provider unavailable.

The URL is the operator's, not a tenant's, so it is not held to the outbound address rules of
webhooks (an identity provider usually sits on the internal network); it must be https, or http
to loopback only (settings check that). Like every outbound request, redirects are not followed,
no proxy from the environment applies, and the fetch has a timeout.
"""

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from time import monotonic
from typing import Any

import httpx
import jwt


class KeysUnavailable(Exception):
    """No key set could be fetched from the identity provider (down, slow, or not a JWKS)."""


@dataclass(frozen=True)
class KeySet:
    """The usable signature keys of one fetch, by key id."""

    keys: Mapping[str, jwt.PyJWK]
    fetched_at: float


def parse_jwks(document: Any) -> dict[str, jwt.PyJWK]:
    """The signature keys of a JWKS document that have a key id and are public-key keys.

    A key whose type PyJWT does not know, a symmetric (`oct`) key, or one marked for encryption
    is skipped rather than failing the whole set.
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeysUnavailable("the JWKS URL did not answer a JSON Web Key Set")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            continue
        if entry.get("kty") not in ("RSA", "EC") or entry.get("use", "sig") != "sig":
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK(entry)
        except jwt.PyJWTError:
            continue
    return keys


class JwksCache:
    """Keys by id from one JWKS URL, refreshed after `ttl_seconds` or on an unknown key id."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        *,
        ttl_seconds: float,
        min_refetch_seconds: float,
        clock: Callable[[], float] = monotonic,
    ) -> None:
        self._client = client
        self._url = url
        self._ttl = ttl_seconds
        self._min_refetch = min_refetch_seconds
        self._clock = clock
        self._held: KeySet | None = None
        self._last_attempt: float | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The key with this id, or None when the provider does not publish it.

        Raises KeysUnavailable when no key set is held and none can be fetched.
        """
        held = self._held
        if held is None or self._clock() - held.fetched_at >= self._ttl:
            held = await self._refresh(force=False)
        found = held.keys.get(kid)
        if found is None and self._may_refetch():
            held = await self._refresh(force=True)
            found = held.keys.get(kid)
        return found

    def _may_refetch(self) -> bool:
        last = self._last_attempt
        return last is None or self._clock() - last >= self._min_refetch

    async def _refresh(self, *, force: bool) -> KeySet:
        async with self._lock:
            held = self._held
            now = self._clock()
            # Another request may have refreshed while this one waited for the lock.
            if held is not None and not force and now - held.fetched_at < self._ttl:
                return held
            if not self._may_refetch():
                # The provider was asked moments ago: keep serving what is held, or fail fast.
                if held is None:
                    raise KeysUnavailable("the JWKS URL failed moments ago")
                return held
            self._last_attempt = now
            try:
                fetched = KeySet(await self._fetch(), self._clock())
            except KeysUnavailable:
                if held is None:
                    raise
                return held
            self._held = fetched
            return fetched

    async def _fetch(self) -> dict[str, jwt.PyJWK]:
        try:
            response = await self._client.get(self._url, headers={"Accept": "application/json"})
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise KeysUnavailable(f"the JWKS URL could not be read: {type(exc).__name__}") from exc
        return parse_jwks(document)


def jwks_client(timeout_seconds: float) -> httpx.AsyncClient:
    """The HTTP client of the key fetches: a timeout, no redirects, no environment proxy."""
    return httpx.AsyncClient(timeout=timeout_seconds, follow_redirects=False, trust_env=False)
