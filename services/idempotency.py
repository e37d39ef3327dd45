"""Idempotency keys, whichever front door sends them: a key bound to its caller, method, path and
body; its claim (or the first answer, when it is a replay), the answer kept, and its release.

A key is claimed inside the caller's own transaction, so work that fails (and rolls back) leaves
the key free. The same key sent to another resource, route or body is refused (INVALID
`idempotency_key_reused`), never answered with another request's replay. Records older than
IDEMPOTENCY_KEY_RETENTION are removed by the cleanupOldAuditLogs job (db/idempotency_retention.py).
"""

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db import idempotency
from services.errors import conflict, invalid

KEY_NAME = "Idempotency-Key"


@dataclass(frozen=True)
class IdempotentRequest:
    scope: str
    key: str
    request_hash: str


@dataclass(frozen=True)
class StoredAnswer:
    """The first answer to a key: a status and a JSON body."""

    status: int
    body: Any


def bound_request(
    *, user_id: int, key: str, method: str, path: str, body: dict[str, Any]
) -> IdempotentRequest:
    """The key of `user_id`, bound to the method, the concrete path and the validated body."""
    bound_to = {"method": method, "path": path, "body": body}
    canonical = json.dumps(bound_to, sort_keys=True, separators=(",", ":"))
    return IdempotentRequest(
        scope=f"user:{user_id}",
        key=key,
        request_hash=hashlib.sha256(canonical.encode()).hexdigest(),
    )


async def claim(session: AsyncSession, request: IdempotentRequest) -> StoredAnswer | None:
    """Claim the key (None), or return the first answer when this is a replay.

    A concurrent claim of the same key waits on the unique index until the first one commits or
    rolls back, so two requests never both do the work.
    """
    if await idempotency.insert_claim(session, request.scope, request.key, request.request_hash):
        return None
    row = await idempotency.claimed_key(session, request.scope, request.key)
    if row.request_hash != request.request_hash:
        raise invalid(
            "idempotency_key_reused",
            f"This {KEY_NAME} was already used for a different request (another "
            "path, method or body); send a new key for a new operation.",
        )
    if row.response_status is None:
        raise conflict(
            "idempotency_request_in_progress",
            f"A request with this {KEY_NAME} is still being processed; retry shortly.",
        )
    return StoredAnswer(int(row.response_status), row.response_body)


async def store_response(
    session: AsyncSession, request: IdempotentRequest, status: int, body: Any
) -> None:
    await idempotency.keep_response(session, request.scope, request.key, status, body)


async def forget(session: AsyncSession, request: IdempotentRequest) -> None:
    """Drop a key whose stored answer no longer holds (its work was undone), so a retry with it
    starts afresh."""
    await idempotency.delete_key(session, request.scope, request.key)
