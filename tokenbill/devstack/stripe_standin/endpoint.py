"""What every stand-in endpoint does around its handler, as Stripe does it: check the secret key,
parse the form, replay or refuse an idempotency key, inject faults, answer errors in Stripe's shape.

A handler is `async (call: Call) -> (status, body)` and raises `StripeError` to refuse.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tokenbill.devstack.stripe_standin.errors import (
    StripeError,
    api_error,
    idempotency_in_use,
    idempotency_mismatch,
    unauthorized,
)
from tokenbill.devstack.stripe_standin.faults import LOST_RESPONSE, PROCESSING_ERROR, FaultDice
from tokenbill.devstack.stripe_standin.forms import parse_form
from tokenbill.devstack.stripe_standin.store import StandinStore, StoredAnswer


@dataclass
class Call:
    """One request as a handler sees it."""

    request: Request
    store: StandinStore
    params: dict[str, Any]
    path_params: dict[str, str]
    idempotency_key: str | None
    # A handler sets this to make the client wait this long for the answer (already stored).
    hang_seconds: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Call], Awaitable[tuple[int, dict[str, Any]]]]


def _state(request: Request) -> tuple[StandinStore, FaultDice]:
    return request.app.state.store, request.app.state.dice


def _check_key(request: Request, store: StandinStore) -> None:
    header = request.headers.get("authorization", "")
    if not header.startswith("Bearer "):
        raise unauthorized(
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY')."
        )
    key = header.removeprefix("Bearer ")
    if key != store.api_key:
        raise unauthorized(
            f"Invalid API Key provided: {key[:8]}{'*' * max(0, len(key) - 12)}{key[-4:]}"
        )


def stripe_endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint for a handler. POSTs are idempotent under `Idempotency-Key`."""

    async def endpoint(request: Request) -> Response:
        store, dice = _state(request)
        try:
            _check_key(request, store)
        except StripeError as refused:
            return refused.response()
        body = (await request.body()).decode() if request.method == "POST" else ""
        params = parse_form(body if request.method == "POST" else request.url.query)
        key = request.headers.get("idempotency-key") if request.method == "POST" else None
        call = Call(request, store, params, dict(request.path_params), key)
        if key is None:
            return await _run(handler, call, dice, key)
        stored = store.answers.get(key)
        if stored is not None:
            if (stored.method, stored.path, stored.params) != (
                request.method,
                request.url.path,
                params,
            ):
                return idempotency_mismatch(key).response()
            replayed = {"Idempotent-Replayed": "true", "Idempotency-Key": key}
            return JSONResponse(stored.body, status_code=stored.status, headers=replayed)
        if key in store.in_flight:
            return idempotency_in_use(key).response()
        store.in_flight.add(key)
        try:
            return await _run(handler, call, dice, key)
        finally:
            store.in_flight.discard(key)

    return endpoint


async def _run(handler: Handler, call: Call, dice: FaultDice, key: str | None) -> Response:
    writes = call.request.method == "POST"
    operation = f"{call.request.method} {call.request.url.path}"
    if writes and dice.fails_before():
        dice.record(PROCESSING_ERROR, operation, key)
        return api_error().response()  # nothing done, nothing stored: a retry may succeed
    try:
        async with call.store.lock:
            status, body = await handler(call)
    except StripeError as refused:
        status, body = refused.status, refused.body
    await call.store.flush_events()
    if key is not None and status < 500:
        call.store.answers[key] = StoredAnswer(
            call.request.method, call.request.url.path, call.params, status, body
        )
    if writes and call.hang_seconds == 0 and dice.loses_answer():
        dice.record(LOST_RESPONSE, operation, key)
        call.hang_seconds = dice.faults.hang_seconds
    if call.hang_seconds > 0:
        await asyncio.sleep(call.hang_seconds)  # done and stored; the client gave up meanwhile
    headers = dict(call.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return JSONResponse(body, status_code=status, headers=headers)
