"""Idempotent answers that show a webhook signing secret: the secret is stored for replays
encrypted, and decrypted when a replay answers.

api.idempotency.respond_once stores the very body it answers with, and these answers must never
keep the secret in clear, so the same claim/replay/store/commit sequence runs here with a stored
body that differs from the one sent.
"""

from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.dependencies import Principal
from api.idempotency import idempotent_request
from api.schemas.webhooks import WebhookCreated, WebhookOut
from db.webhook_secrets import SecretBox, SecretUnreadable
from services.errors import conflict
from services.idempotency import StoredAnswer, claim, store_response
from services.webhooks.endpoints import EndpointWithSecret
from tokenbill.settings import Settings

# The stored replay of an answer that shows a secret holds it under this key, encrypted.
REPLAY_SECRET_FIELD = "secret_ciphertext"
SecretAnswerT = TypeVar("SecretAnswerT", bound=WebhookCreated)


def revealed(answer: type[SecretAnswerT], made: EndpointWithSecret) -> SecretAnswerT:
    """The answer that shows the endpoint and, this once, its new secret."""
    endpoint = WebhookOut.model_validate(made.endpoint)
    return answer.model_validate({**endpoint.model_dump(), "secret": made.secret})


async def respond_once_with_secret(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    body: BaseModel,
    settings: Settings,
    status: int,
    work: Callable[[], Awaitable[WebhookCreated]],
) -> JSONResponse:
    """Claim the Idempotency-Key (or replay the first answer, its secret decrypted), do the work,
    store its answer with the secret encrypted, commit, and send the answer in full."""
    box = SecretBox(settings)
    key = idempotent_request(request, principal, body)
    replay = await claim(session, key)
    if replay is not None:
        return _replay(replay, box)
    answer = await work()
    sent = answer.model_dump(mode="json")
    stored = {**sent, "secret": None, REPLAY_SECRET_FIELD: box.encrypt(answer.secret)}
    await store_response(session, key, status, stored)
    await session.commit()
    return JSONResponse(sent, status_code=status)


def _replay(replay: StoredAnswer, box: SecretBox) -> JSONResponse:
    body = dict(replay.body)
    ciphertext = body.pop(REPLAY_SECRET_FIELD, None)
    if isinstance(ciphertext, str):
        try:
            body["secret"] = box.decrypt(ciphertext)
        except SecretUnreadable:
            raise conflict(
                "webhook_secret_unavailable",
                "The secret of this stored answer can no longer be read; rotate the endpoint's "
                "secret to get a new one.",
            ) from None
    return JSONResponse(body, status_code=replay.status)
