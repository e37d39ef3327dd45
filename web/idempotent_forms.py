"""A console form that is safe to send twice: its confirm page writes a fresh idempotency key into
a hidden field, and the POST claims, replays and stores it with the API's own sequence
(api/idempotency.py), bound the same way to the user, the path and the validated fields."""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from api.idempotency import acceptable_key
from services.errors import invalid
from services.idempotency import (
    IdempotentRequest,
    bound_request,
    claim,
    forget,
    store_response,
)
from web.console_user import ConsoleUser

FIELD = "idempotency_key"
Work = Callable[[], Awaitable[dict[str, Any]]]


class _NoFields(BaseModel):
    """The fields of a command that takes none: the key binds to the method and path alone."""


def new_key() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Submitted:
    """The form's answer, whether this request did the work (False: a replay), and its key."""

    answer: dict[str, Any]
    first: bool
    key: IdempotentRequest

    async def forget(self, session: AsyncSession) -> None:
        """Drop the stored answer when its work was undone, so the form may be sent again."""
        await forget(session, self.key)


async def submit_once(
    session: AsyncSession,
    request: Request,
    user: ConsoleUser,
    key: str,
    fields: BaseModel | None,
    work: Work,
) -> Submitted:
    """The answer of `work`, stored with the key and committed with its transaction; or, when
    the key was already answered, that first answer. A refusal of the key (reused for other
    fields, still running) is a ServiceError."""
    if not acceptable_key(key):
        raise invalid("invalid_idempotency_key", "The form's key is malformed; reload the page.")
    bound = bound_request(
        user_id=user.user.id, key=key, method=request.method, path=request.url.path,
        body=(fields or _NoFields()).model_dump(mode="json"),
    )  # fmt: skip
    replay = await claim(session, bound)  # a reused or running key is a ServiceError
    if replay is not None:
        return Submitted(dict(replay.body), False, bound)
    answer = await work()
    await store_response(session, bound, 200, answer)
    await session.commit()
    return Submitted(answer, True, bound)
