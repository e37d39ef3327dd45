"""Idempotency-Key on POSTs that create or move something: the first answer is kept and replayed.

A key is claimed inside the route's own transaction, so a request that fails (and rolls back)
leaves the key free; the answer is stored once the work is done. A key belongs to its principal
and is bound to the method, the concrete path (`/subscriptions/2/cancel`, not the route's
template) and the validated body: the same key sent to another resource, route or body is refused
(422 `idempotency_key_reused`), never answered with another request's replay. Records older than
IDEMPOTENCY_KEY_RETENTION are removed by the cleanupOldAuditLogs job (db/idempotency_retention.py).
"""

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.dependencies import Principal
from api.errors import ApiError
from api.openapi_errors import JSON_ERROR
from db import idempotency

IDEMPOTENCY_HEADER = "Idempotency-Key"
_ACCEPTABLE_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def idempotency_key_openapi(max_length: int = 255) -> dict[str, Any]:
    """`openapi_extra` of a route that needs the header: the header, its 400 and 409 answers."""
    return {
        "parameters": [
            {
                "name": IDEMPOTENCY_HEADER,
                "in": "header",
                "required": True,
                "description": "A unique value per intended operation (e.g. a UUID); a replay "
                "with the same key, path and body returns the first answer. The key is bound to "
                "you, the method, the path and the body: sent elsewhere it is refused (422 "
                "`idempotency_key_reused`). Keys are kept for IDEMPOTENCY_KEY_RETENTION.",
                "schema": {"type": "string", "pattern": f"^[\\x21-\\x7e]{{1,{max_length}}}$"},
            }
        ],
        "responses": {
            "400": {"description": "Idempotency-Key missing or malformed.", "content": JSON_ERROR},
            "409": {"description": "A request with this key is running.", "content": JSON_ERROR},
        },
    }


IDEMPOTENT_ROUTE = idempotency_key_openapi()


@dataclass(frozen=True)
class IdempotentRequest:
    scope: str
    key: str
    request_hash: str


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, status_code=self.status)


def idempotent_request(
    request: Request, principal: Principal, body: BaseModel
) -> IdempotentRequest:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None or not key.strip():
        raise ApiError(
            400,
            "idempotency_key_required",
            f"This request creates something: send an {IDEMPOTENCY_HEADER} header "
            "(a unique value per intended operation, e.g. a UUID).",
        )
    if not acceptable_key(key):
        raise ApiError(
            400,
            "invalid_idempotency_key",
            f"The {IDEMPOTENCY_HEADER} must be 1 to 255 printable ASCII characters, no spaces.",
        )
    return bound_request(principal.id, key, request.method, request.url.path, body)


def acceptable_key(key: str) -> bool:
    """1 to 255 printable ASCII characters, no spaces."""
    return _ACCEPTABLE_KEY.match(key) is not None


def bound_request(
    user_id: int, key: str, method: str, path: str, body: BaseModel
) -> IdempotentRequest:
    """The key as its user claims it, bound to the method, the concrete path and the body (the
    console's forms carry their key in a field and are bound the same way)."""
    bound_to = {"method": method, "path": path, "body": body.model_dump(mode="json")}
    canonical = json.dumps(bound_to, sort_keys=True, separators=(",", ":"))
    return IdempotentRequest(
        scope=f"user:{user_id}",
        key=key,
        request_hash=hashlib.sha256(canonical.encode()).hexdigest(),
    )


async def claim(session: AsyncSession, request: IdempotentRequest) -> StoredResponse | None:
    """Claim the key (None), or return the first answer when this is a replay.

    A concurrent claim of the same key waits on the unique index until the first one commits or
    rolls back, so two requests never both do the work.
    """
    if await idempotency.insert_claim(session, request.scope, request.key, request.request_hash):
        return None
    row = await idempotency.claimed_key(session, request.scope, request.key)
    if row.request_hash != request.request_hash:
        raise ApiError(
            422,
            "idempotency_key_reused",
            f"This {IDEMPOTENCY_HEADER} was already used for a different request (another "
            "path, method or body); send a new key for a new operation.",
        )
    if row.response_status is None:
        raise ApiError(
            409,
            "idempotency_request_in_progress",
            f"A request with this {IDEMPOTENCY_HEADER} is still being processed; retry shortly.",
        )
    return StoredResponse(int(row.response_status), row.response_body)


async def store_response(
    session: AsyncSession, request: IdempotentRequest, status: int, body: Any
) -> None:
    await idempotency.keep_response(session, request.scope, request.key, status, body)


async def forget(session: AsyncSession, request: IdempotentRequest) -> None:
    """Drop a key whose stored answer no longer holds (its work was undone), so a retry with it
    starts afresh."""
    await idempotency.delete_key(session, request.scope, request.key)


class _NoBody(BaseModel):
    """The body of a command that takes none: the key binds to the method and path alone."""


@dataclass(frozen=True)
class Answer:
    """What an idempotent request answers, kept to replay: a status and a JSON body."""

    status: int
    body: Any
    shown_once: dict[str, Any] = field(default_factory=dict)
    """Fields the first answer adds to (or sets in) the body but a replay does not get, such as
    a secret only its hash is kept of; the kept body must say null for them."""


async def respond_once(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    body: BaseModel | None,
    work: Callable[[], Awaitable[Answer]],
    *,
    on_replay: Callable[[StoredResponse], Awaitable[JSONResponse]] | None = None,
) -> JSONResponse:
    """The one idempotent-request sequence: claim the Idempotency-Key (or replay the first
    answer), do the work in the request's transaction, store the answer with it and commit.

    The claim stays uncommitted while the work runs: a failure rolls it back (the key stays
    free), and a concurrent request with the same key waits for this one.
    """
    key = idempotent_request(request, principal, body if body is not None else _NoBody())
    replay = await claim(session, key)
    if replay is not None:
        return await on_replay(replay) if on_replay is not None else replay.response()
    answer = await work()
    await store_response(session, key, answer.status, answer.body)
    await session.commit()
    first = {**answer.body, **answer.shown_once} if answer.shown_once else answer.body
    return JSONResponse(first, status_code=answer.status)
