"""Delivering one outbox event to one webhook endpoint: a signed POST, logged attempt by attempt.

An attempt raises WebhookUnavailable (retried by the workflow's policy with backoff) on a 5xx,
408, 429, timeout or connection error, and WebhookRejected (not retried) on any other non-2xx.
Redirects are not followed: a webhook URL must answer itself.

Only POSTs made and logged count against WEBHOOK_MAX_ATTEMPTS: the delivery's own counter decides
when to give up, so a worker crash or a database outage between attempts never uses up the budget
(the workflow retries those without limit) and a delivery never fails without its log.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from db.outbox_events import OutboxEvent, load_event
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
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature_header,
)

logger = logging.getLogger("tokenbill.webhooks")
RETRIED_CLIENT_ERRORS = (408, 429)
MAX_ERROR_LENGTH = 500
USER_AGENT = "tokenbill-webhooks/1"


@dataclass(frozen=True)
class DeliveryTarget:
    url: str
    secret: str
    event: OutboxEvent
    attempts_made: int
    last_status_code: int | None


def is_retryable(status_code: int) -> bool:
    return status_code >= 500 or status_code in RETRIED_CLIENT_ERRORS


class WebhookDeliveryActivities:
    def __init__(self, session_maker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._session_maker = session_maker
        self._settings = settings

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
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature_header(target.secret, timestamp, body),
            EVENT_ID_HEADER: f"evt_{target.event.id}",
            EVENT_TYPE_HEADER: target.event.event_type,
        }
        started = time.monotonic()
        status_code: int | None = None
        error: str | None = None
        try:
            async with httpx.AsyncClient(
                timeout=delivery.retry.timeout.total_seconds(), follow_redirects=False
            ) as client:
                response = await client.post(target.url, content=body, headers=headers)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"the endpoint answered HTTP {status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]
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
            await session.execute(
                text(
                    "UPDATE webhook_deliveries SET status = :status, completed_at = now(), "
                    "last_error = coalesce(:error, last_error) "
                    "WHERE id = :id AND status = 'pending'"
                ),
                {"status": outcome.status, "error": outcome.error, "id": outcome.delivery_id},
            )
        if outcome.status == "failed":
            logger.warning("webhook delivery %s failed for good: %s", outcome.delivery_id,
                           outcome.error)  # fmt: skip

    async def _target(self, delivery: WebhookDeliveryInput) -> DeliveryTarget:
        async with self._session_maker() as session:
            endpoint = (
                await session.execute(
                    text(
                        "SELECT e.url, e.secret, e.is_active, d.attempts, d.last_status_code "
                        "FROM webhook_deliveries d "
                        "JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = :id"
                    ),
                    {"id": delivery.delivery_id},
                )
            ).one_or_none()
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
        return DeliveryTarget(
            url=endpoint.url, secret=endpoint.secret, event=event,
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
            made = await session.scalar(
                text(
                    "UPDATE webhook_deliveries SET attempts = attempts + 1, "
                    "last_status_code = :code, last_error = :error WHERE id = :d "
                    "RETURNING attempts"
                ),
                {"d": delivery.delivery_id, "code": status_code, "error": error},
            )
            await session.execute(
                text(
                    "INSERT INTO webhook_delivery_attempts (delivery_id, attempt, status_code, "
                    "error, duration_ms) VALUES (:d, :attempt, :code, :error, :ms)"
                ),
                {
                    "d": delivery.delivery_id, "attempt": made, "code": status_code,
                    "error": error, "ms": duration_ms,
                },
            )  # fmt: skip
        return int(made)


def _given_up(attempts: int, error: str) -> ApplicationError:
    return ApplicationError(
        f"{error}; {attempts} attempts made, no more are tried",
        {"attempts": attempts},
        type=WEBHOOK_UNAVAILABLE,
        non_retryable=True,
    )
