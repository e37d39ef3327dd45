"""ASGI middleware: request ids, body limits and content type, and the token-system switch."""

import json
from email.message import Message as MimeMessage
from functools import lru_cache

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body
from api.request_context import REQUEST_ID_HEADER, choose_request_id, store_request_id

API_PREFIX = "/api/"
TOKENS_PREFIX = "/api/tokens"
_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


async def send_error(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps(error_body(code, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestIdMiddleware:
    """Takes X-Request-ID from the caller (or makes one) and returns it on every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = choose_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER))
        store_request_id(scope, request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)


@lru_cache(maxsize=256)  # parsing a MIME header per request was a cost on the spend path
def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    mime = MimeMessage()
    mime["content-type"] = content_type
    subtype = mime.get_content_subtype()
    return mime.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class BodyGuardMiddleware:
    """Refuses bodies over the limit (413) and, under /api, non-JSON bodies (415) before any
    route sees them (the console's forms, outside /api, post form-encoded bodies).

    The body is read here, bounded, and handed on whole, so nothing downstream reads more.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _METHODS_WITH_BODY:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if self._declared_too_large(headers.get("content-length")):
            await self._too_large(send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(send)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        if body and _under_api(scope) and not _is_json(headers.get("content-type")):
            await send_error(
                send, 415, "unsupported_media_type", "Send the request body as application/json."
            )
            return
        await self.app(scope, _replay(body, receive), send)

    def _declared_too_large(self, content_length: str | None) -> bool:
        if content_length is None:
            return False
        try:
            return int(content_length) > self.max_body_bytes
        except ValueError:
            return False

    async def _too_large(self, send: Send) -> None:
        await send_error(
            send,
            413,
            "request_too_large",
            f"The request body is larger than {self.max_body_bytes} bytes.",
        )


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class TokenSystemSwitchMiddleware:
    """With ENABLE_TOKEN_SYSTEM=false every /api/tokens route answers 503, before anything else."""

    def __init__(self, app: ASGIApp, enabled: bool) -> None:
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.enabled and scope["type"] == "http" and _under_tokens(scope):
            await send_error(
                send,
                503,
                "token_system_disabled",
                "The token system is disabled on this deployment (ENABLE_TOKEN_SYSTEM=false).",
            )
            return
        await self.app(scope, receive, send)


def _under_api(scope: Scope) -> bool:
    path: str = scope["path"]
    return path.startswith(API_PREFIX)


def _under_tokens(scope: Scope) -> bool:
    path: str = scope["path"]
    return path == TOKENS_PREFIX or path.startswith(TOKENS_PREFIX + "/")
