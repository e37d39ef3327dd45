"""Idempotency-Key on POSTs that create or move something: the first answer is kept and replayed.

The header read and checked, and the one claim/replay/store/commit sequence of a route. A key
belongs to its principal and is bound to the method, the concrete path (`/subscriptions/2/cancel`,
not the route's template) and the validated body; the records themselves are
services/idempotency.py's (422 `idempotency_key_reused` for a key sent elsewhere).
"""

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
from services.idempotency import (
    KEY_NAME,
    IdempotentRequest,
    StoredAnswer,
    bound_request,
    claim,
    store_response,
)

IDEMPOTENCY_HEADER = KEY_NAME
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
    return bound_request(
        user_id=principal.id, key=key, method=request.method, path=request.url.path,
        body=body.model_dump(mode="json"),
    )  # fmt: skip


def acceptable_key(key: str) -> bool:
    """1 to 255 printable ASCII characters, no spaces."""
    return _ACCEPTABLE_KEY.match(key) is not None


def json_answer(answer: StoredAnswer) -> JSONResponse:
    """A kept answer (the first, or its replay) as the response."""
    return JSONResponse(answer.body, status_code=answer.status)


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
    on_replay: Callable[[StoredAnswer], Awaitable[JSONResponse]] | None = None,
) -> JSONResponse:
    """The one idempotent-request sequence: claim the Idempotency-Key (or replay the first
    answer), do the work in the request's transaction, store the answer with it and commit.

    The claim stays uncommitted while the work runs: a failure rolls it back (the key stays
    free), and a concurrent request with the same key waits for this one.
    """
    key = idempotent_request(request, principal, body if body is not None else _NoBody())
    replay = await claim(session, key)
    if replay is not None:
        return await on_replay(replay) if on_replay is not None else json_answer(replay)
    answer = await work()
    await store_response(session, key, answer.status, answer.body)
    await session.commit()
    first = {**answer.body, **answer.shown_once} if answer.shown_once else answer.body
    return JSONResponse(first, status_code=answer.status)
