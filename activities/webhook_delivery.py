"""Delivering one outbox event to one webhook endpoint: a signed POST, logged attempt by attempt.

An attempt raises WebhookUnavailable (retried by the workflow's policy with backoff) on a 5xx,
408, 429, timeout, connection error or failed lookup, and WebhookRejected (not retried) on any
other non-2xx or when the host is or resolves to a non-public address (checked at every attempt,
unless WEBHOOK_ALLOW_PRIVATE_ADDRESSES is on; the POST goes to the address checked). Redirects
are not followed: a webhook URL must answer itself. The log holds a category, never exception
text.

Deliveries are signed in the Standard Webhooks format (workflows/webhook_signature.py) with the
endpoint's secret, and with its previous one too while a rotation's overlap lasts.

Only POSTs made and logged count against WEBHOOK_MAX_ATTEMPTS: the delivery's own counter decides
when to give up, so a worker crash or a database outage between attempts never uses up the budget
(the workflow retries those without limit) and a delivery never fails without its log.
"""

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.outbound_http import FAILURE_MESSAGES, failure_category, pinned_client
from db.outbox_events import OutboxEvent, load_event
from db.webhook_secrets import SecretBox
from db.webhooks import delivery_target, finish_delivery, log_attempt
from tokenbill.outbound_addresses import (
    AddressRefused,
    CheckedTarget,
    HostUnresolvable,
    Resolver,
    check_url,
    system_resolver,
)
from tokenbill.settings import Settings
from workflows.webhook_delivery_types import (
    DELIVER_WEBHOOK,
    ENDPOINT_GONE,
    FINISH_DELIVERY,
    WEBHOOK_REJECTED,
    WEBHOOK_UNAVAILABLE,
    AttemptOutcome,
    FinishDeliveryInput,
    WebhookDeliveryInput,
)
from workflows.webhook_signature import (
    EVENT_TYPE_HEADER,
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature_header,
)

logger = logging.getLogger("tokenbill.webhooks")
RETRIED_CLIENT_ERRORS = (408, 429)
USER_AGENT = "tokenbill-webhooks/1"


@dataclass(frozen=True)
class DeliveryTarget:
    url: str
    secrets: list[str]  # the current secret first, then one still in its rotation overlap
    event: OutboxEvent
    attempts_made: int
    last_status_code: int | None


def is_retryable(status_code: int) -> bool:
    return status_code >= 500 or status_code in RETRIED_CLIENT_ERRORS


class WebhookDeliveryActivities:
    def __init__(
        self,
        session_maker: async_sessionmaker[AsyncSession],
        settings: Settings,
        resolver: Resolver = system_resolver,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """`resolver` and `tls` (the certificates trusted; default, the system's) are for tests."""
        self._session_maker = session_maker
        self._settings = settings
        self._secret_box = SecretBox(settings)
        self._resolver = resolver
        self._tls = tls

    def definitions(self) -> list[Callable[..., Any]]:
        return [self.deliver, self.finish]

    @activity.defn(name=DELIVER_WEBHOOK)
    async def deliver(self, delivery: WebhookDeliveryInput) -> AttemptOutcome:
        target = await self._target(delivery)
        if target.last_status_code is not None and 200 <= target.last_status_code < 300:
            # An earlier run of this activity was answered 2xx and logged it, then died.
            return AttemptOutcome(status_code=target.last_status_code, duration_ms=0)
        if target.attempts_made >= delivery.retry.maximum_attempts:
            raise _given_up(target.attempts_made, "the endpoint did not accept the event")
        body = target.event.body()
        message_id = f"evt_{target.event.id}"
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            ID_HEADER: message_id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature_header(target.secrets, message_id, timestamp, body),
            EVENT_TYPE_HEADER: target.event.event_type,
        }
        started = time.monotonic()
        status_code: int | None = None
        error: str | None = None
        try:
            timeout = delivery.retry.timeout.total_seconds()
            checked = await self._check(target.url, timeout)
            async with pinned_client(checked, timeout, self._tls) as client:
                response = await client.post(target.url, content=body, headers=headers)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"the endpoint answered HTTP {status_code}"
        except AddressRefused:
            duration_ms = int((time.monotonic() - started) * 1000)
            await self._log_attempt(delivery, None, FAILURE_MESSAGES["address"], duration_ms)
            raise ApplicationError(
                FAILURE_MESSAGES["address"], type=WEBHOOK_REJECTED, non_retryable=True
            ) from None
        except HostUnresolvable:
            error = FAILURE_MESSAGES["dns"]
        except httpx.HTTPError as exc:
            error = FAILURE_MESSAGES[failure_category(exc)]
        duration_ms = int((time.monotonic() - started) * 1000)
        made = await self._log_attempt(delivery, status_code, error, duration_ms)
        if error is None and status_code is not None:
            return AttemptOutcome(status_code=status_code, duration_ms=duration_ms)
        if status_code is not None and not is_retryable(status_code):
            raise ApplicationError(
                f"{error}; a {status_code} is not retried",
                {"status_code": status_code},
                type=WEBHOOK_REJECTED,
                non_retryable=True,
            )
        if made >= delivery.retry.maximum_attempts:
            raise _given_up(made, str(error))
        raise ApplicationError(str(error), {"status_code": status_code}, type=WEBHOOK_UNAVAILABLE)

    @activity.defn(name=FINISH_DELIVERY)
    async def finish(self, outcome: FinishDeliveryInput) -> None:
        async with self._session_maker() as session, session.begin():
            await finish_delivery(session, outcome.delivery_id, outcome.status, outcome.error)
        if outcome.status == "failed":
            logger.warning("webhook delivery %s failed for good: %s", outcome.delivery_id,
                           outcome.error)  # fmt: skip

    async def _check(self, url: str, timeout_seconds: float) -> CheckedTarget:
        """Resolve and check the host, within the attempt's timeout (a lookup can hang too)."""
        try:
            return await asyncio.wait_for(
                check_url(
                    url,
                    allow_private=self._settings.webhook_allow_private_addresses,
                    resolver=self._resolver,
                ),
                timeout_seconds,
            )
        except TimeoutError:
            raise HostUnresolvable(urlsplit(url).hostname or "") from None

    async def _target(self, delivery: WebhookDeliveryInput) -> DeliveryTarget:
        async with self._session_maker() as session:
            endpoint = await delivery_target(session, delivery.delivery_id)
            event = await load_event(session, delivery.event_id)
        if endpoint is None or event is None:
            raise ApplicationError(
                f"webhook delivery {delivery.delivery_id} no longer exists",
                type=ENDPOINT_GONE,
                non_retryable=True,
            )
        if not endpoint.is_active:
            raise ApplicationError(
                f"webhook endpoint {delivery.endpoint_id} was deactivated",
                type=ENDPOINT_GONE,
                non_retryable=True,
            )
        ciphertexts = [endpoint.secret_ciphertext, endpoint.previous_secret_ciphertext]
        return DeliveryTarget(
            url=endpoint.url, event=event,
            secrets=[self._secret_box.decrypt(c) for c in ciphertexts if c is not None],
            attempts_made=endpoint.attempts, last_status_code=endpoint.last_status_code,
        )  # fmt: skip

    async def _log_attempt(
        self,
        delivery: WebhookDeliveryInput,
        status_code: int | None,
        error: str | None,
        duration_ms: int,
    ) -> int:
        """Log the POST just made; the number of POSTs made so far, this one included."""
        async with self._session_maker() as session, session.begin():
            return await log_attempt(
                session, delivery.delivery_id, status_code=status_code, error=error,
                duration_ms=duration_ms,
            )  # fmt: skip


def _given_up(attempts: int, error: str) -> ApplicationError:
    return ApplicationError(
        f"{error}; {attempts} attempts made, no more are tried",
        {"attempts": attempts},
        type=WEBHOOK_UNAVAILABLE,
        non_retryable=True,
    )
