"""Who a bearer token names, remembered for a short while, so an authenticated read is one query
(its own) rather than two (the user, then the read).

What is remembered: the active user a verified token resolved to, by user id (tokenbill's own
tokens) or by the identity provider's email or subject. The token itself is still verified on
every request (signature, issuer, expiry); unknown and inactive users are never remembered.

When a change takes effect (PRINCIPAL_CACHE_TTL, 5 seconds by default as for API keys; PT0S
turns the cache off):
- made by this process (the admin API, the console, the CLI run in-process, a test's session):
  on the next request after it commits. Every statement that writes the `users` table, through
  the ORM or as SQL, empties this process's caches when it executes and again when its
  transaction commits (engine events, below), and a user read that began before either is not
  remembered (a generation count).
- made elsewhere (another API process or uvicorn worker, `tokenbill` commands in their own
  process, SQL typed into psql): within the time to live.

API keys are verified by api/auth/api_key_cache.py (API_KEY_CACHE_TTL), the spend path's own.
"""

import asyncio
import re
from collections.abc import Awaitable, Callable
from time import monotonic
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from db.directory import UserRecord

MAX_ENTRIES = 10_000
# `UPDATE users`, `DELETE FROM users`, `INSERT INTO users`, `TRUNCATE users`, quoted or not.
_WRITES_USERS = re.compile(
    r"^\s*(?:update|delete\s+from|insert\s+into|truncate(?:\s+table)?)\s+(?:only\s+)?"
    r'(?:"?public"?\.)?"?users"?(?:\s|$|\()',
    re.IGNORECASE,
)

Key = tuple[str, int | str]


def by_id(user_id: int) -> Key:
    return ("id", user_id)


def by_claim(claim: str, value: str) -> Key:
    """An identity provider's claim (`email` or `sub`) and its value."""
    return (claim, value)


def writes_users(statement: str) -> bool:
    return _WRITES_USERS.match(statement) is not None


class PrincipalCache:
    """Active users by key, each for `ttl_seconds` after it was read."""

    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = monotonic) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._known: dict[Key, tuple[UserRecord, float]] = {}
        self._reading: dict[Key, tuple[asyncio.Future[UserRecord | None], int]] = {}
        _LIVE.append(self)

    async def resolve(
        self, key: Key, read: Callable[[], Awaitable[UserRecord | None]]
    ) -> UserRecord | None:
        """The remembered user, else `read()`'s, remembered; concurrent misses of one key share
        one read, unless a user was written after that read began."""
        user = self.get(key)
        if user is not None:
            return user
        generation = self.generation()
        pending = self._reading.get(key)
        if pending is not None and pending[1] == generation:
            return await asyncio.shield(pending[0])
        task = asyncio.ensure_future(read())
        self._reading[key] = (task, generation)
        try:
            user = await asyncio.shield(task)
        finally:
            if self._reading.get(key, (None, 0))[0] is task:
                del self._reading[key]
        if user is not None:
            self.remember(key, user, generation)
        return user

    def get(self, key: Key) -> UserRecord | None:
        known = self._known.get(key)
        if known is None:
            return None
        if known[1] <= self._clock():
            self._known.pop(key, None)
            return None
        return known[0]

    @staticmethod
    def generation() -> int:
        """Take it before reading a user; `remember` stores the read only if no user was
        written since."""
        return _GENERATION[0]

    def remember(self, key: Key, user: UserRecord, generation: int) -> None:
        if self._ttl <= 0 or not user.is_active or generation != _GENERATION[0]:
            return
        if len(self._known) >= MAX_ENTRIES:
            self._known.clear()
        self._known[key] = (user, self._clock() + self._ttl)

    def clear(self) -> None:
        self._known.clear()

    def close(self) -> None:
        """Forget everything and stop listening for user changes (the app's shutdown)."""
        self.clear()
        if self in _LIVE:
            _LIVE.remove(self)


_LIVE: list[PrincipalCache] = []
_GENERATION = [0]
_WROTE_USERS = "tokenbill_wrote_users"


def forget_every_principal() -> None:
    """Empty every cache of this process: a user was written."""
    _GENERATION[0] += 1
    for cache in _LIVE:
        cache.clear()


@event.listens_for(Engine, "before_cursor_execute")
def _on_statement(
    conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
) -> None:
    if writes_users(statement):
        conn.info[_WROTE_USERS] = True
        forget_every_principal()


@event.listens_for(Engine, "commit")
def _on_commit(conn: Connection) -> None:
    # A read between the write and its commit saw the old row: forget it once more.
    if conn.info.pop(_WROTE_USERS, False):
        forget_every_principal()


@event.listens_for(Engine, "rollback")
def _on_rollback(conn: Connection) -> None:
    conn.info.pop(_WROTE_USERS, None)
