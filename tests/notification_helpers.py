"""Arranging notification tests: a real HTTP receiver, a worker with a relay of its own, rows."""

import asyncio
import ssl
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from sqlalchemy import text
from temporalio.client import Client

from db.webhook_secrets import SecretBox, new_signing_secret, secret_hint
from tests.database_helpers import credit_wallet, rows
from tests.purchase_helpers import Maker
from tokenbill.settings import Settings
from tokenbill.workflow_client import WorkflowClient
from tokenbill.workflow_signals import wake_outbox_relay
from worker.main import build_worker

T = TypeVar("T")


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP server on a free local port that records every POST and answers from a script."""

    answers: list[int] = field(default_factory=list)
    received: list[ReceivedRequest] = field(default_factory=list)
    tls: ssl.SSLContext | None = None  # given, the receiver speaks HTTPS
    _server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}/hooks"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver.received.append(
                    ReceivedRequest(self.path, {k: v for k, v in self.headers.items()}, body)
                )
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def notification_settings(settings: Settings, **overrides: Any) -> Settings:
    """Fast retries and a quick relay poll, so tests do not wait on production cadences; webhooks
    may reach the local receiver."""
    fast = {
        "webhook_allow_private_addresses": True,
        "webhook_retry_initial_interval": timedelta(milliseconds=200),
        "webhook_retry_max_interval": timedelta(seconds=1),
        "webhook_max_attempts": 4,
        "webhook_timeout": timedelta(seconds=5),
        "outbox_relay_poll_interval": timedelta(seconds=1),
        "outbox_stale_after": timedelta(seconds=2),
        "token_auto_topup_retry_backoff": timedelta(seconds=1),
    }
    return settings.model_copy(update={**fast, **overrides})


@dataclass(frozen=True)
class RunningWorker:
    task_queue: str
    relay_id: str
    settings: Settings


@asynccontextmanager
async def notification_worker(
    client: Client, settings: Settings, session_maker: Maker, *, with_relay: bool = True
) -> AsyncIterator[RunningWorker]:
    """A worker with every workflow and activity on a queue of its own, and (optionally) an
    outbox relay under an id of its own, terminated at the end."""
    queue = f"notifications-{uuid.uuid4().hex}"
    relay_id = f"relay-{queue}"
    async with build_worker(client, settings, session_maker, task_queue=queue):
        if with_relay:
            await wake_outbox_relay(WorkflowClient.over(client, queue), workflow_id=relay_id)
        try:
            yield RunningWorker(queue, relay_id, settings)
        finally:
            if with_relay:
                await client.get_workflow_handle(relay_id).terminate("test finished")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    within: float = 30.0,
) -> T:
    """Poll `probe` until `done` holds of its value; the last value (checked by the caller)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await probe()
        if done(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.2)


async def create_endpoint(
    session_maker: Maker,
    organization_id: int,
    url: str,
    event_types: tuple[str, ...] = (),
    *,
    settings: Settings,
) -> tuple[int, str]:
    """A webhook endpoint written directly, its secret encrypted as `settings` say; (id, secret)."""
    secret = new_signing_secret()
    async with session_maker() as session, session.begin():
        endpoint_id = await session.scalar(
            text(
                "INSERT INTO webhook_endpoints (organization_id, url, secret_ciphertext, "
                "secret_hint, event_types) VALUES (:o, :u, :s, :h, :t) RETURNING id"
            ),
            {"o": organization_id, "u": url, "s": SecretBox(settings).encrypt(secret),
             "h": secret_hint(secret), "t": list(event_types)},
        )  # fmt: skip
    assert endpoint_id is not None
    return int(endpoint_id), secret


async def funded_wallet(session_maker: Maker, organization_id: int, tokens: str) -> int:
    wallet_id, _ = await credit_wallet(session_maker, organization_id, tokens)
    return wallet_id


async def set_policy(
    session_maker: Maker, wallet_id: int, organization_id: int, **columns: Any
) -> None:
    """An auto top-up policy written directly (the API's validation is tested on its own)."""
    values = {"enabled": True, "payment_method": "pm_card_ok", **columns}
    names = ", ".join(values)
    params = ", ".join(f":{name}" for name in values)
    async with session_maker() as session, session.begin():
        await session.execute(
            text(
                f"INSERT INTO auto_topup_policies (wallet_id, organization_id, {names}) "
                f"VALUES (:wallet_id, :organization_id, {params})"
            ),
            {"wallet_id": wallet_id, "organization_id": organization_id, **values},
        )


async def auto_topup_purchases(session_maker: Maker, wallet_id: int) -> list[Any]:
    return await rows(
        session_maker,
        "SELECT purchase_reference_id, status, token_quantity, total_amount, failure_reason "
        "FROM token_purchases WHERE wallet_id = :w AND purchase_type = 'auto_topup' "
        "ORDER BY id",
        w=wallet_id,
    )


async def events_of(session_maker: Maker, wallet_id: int, event_type: str) -> list[Any]:
    return await rows(
        session_maker,
        "SELECT id, payload, status FROM notification_events "
        "WHERE wallet_id = :w AND event_type = :t ORDER BY id",
        w=wallet_id,
        t=event_type,
    )
