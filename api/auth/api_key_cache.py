"""API key verification with a short in-process memory, so the hot path does not read the key
on every request. A revocation takes effect within the cache's time to live (API_KEY_CACHE_TTL,
5 seconds by default); unknown or revoked keys are never remembered."""

from time import monotonic

from db.api_keys import ApiKeyIdentity, find_active_key, hash_secret
from db.spend_pool import SpendPool

MAX_ENTRIES = 10_000


class ApiKeyCache:
    def __init__(self, pool: SpendPool, ttl_seconds: float) -> None:
        self._pool = pool
        self._ttl = ttl_seconds
        self._known: dict[str, tuple[ApiKeyIdentity, float]] = {}

    async def verify(self, secret: str) -> ApiKeyIdentity | None:
        digest = hash_secret(secret)
        now = monotonic()
        known = self._known.get(digest)
        if known is not None and known[1] > now:
            return known[0]
        async with self._pool.connection() as conn:
            identity = await find_active_key(conn, secret)
        if identity is None:
            self._known.pop(digest, None)
        elif self._ttl > 0:
            if len(self._known) >= MAX_ENTRIES:
                self._known.clear()
            self._known[digest] = (identity, now + self._ttl)
        return identity
