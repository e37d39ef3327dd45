"""The relay's activities: claim outbox events, hand each to its channels, mark them delivered.

Channels: the structured log (one JSON line per event, logger `tokenbill.events`), the
organization's webhooks (one delivery row per endpoint and event, unique, so relaying an event
twice plans nothing twice) and, for auto top-up threshold crossings, the wallet's
AutoTopupWorkflow.
"""

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client

from db.outbox_events import OutboxEvent
from tokenbill.settings import Settings
from workflows.auto_topup_start import signal_auto_topup
from workflows.auto_topup_types import TopupTrigger
from workflows.outbox_relay_types import (
    CLAIM_EVENTS,
    FAN_OUT_EVENT,
    FINISH_EVENTS,
    FORWARD_TO_AUTO_TOPUP,
    ClaimedEvents,
    FanOut,
    FinishEventsInput,
    RelayEvent,
)
from workflows.outbox_types import BALANCE_CRITICAL, BALANCE_LOW
from workflows.webhook_delivery_types import DeliveryRetry, WebhookDeliveryInput

event_log = logging.getLogger("tokenbill.events")
logger = logging.getLogger("tokenbill.relay")

CLAIM_SQL = """
WITH picked AS (
  SELECT id FROM notification_events
   WHERE {condition}
   ORDER BY created_at, id
   LIMIT :limit
   FOR UPDATE SKIP LOCKED
)
UPDATE notification_events e SET status = 'dispatched', dispatched_at = now()
  FROM picked WHERE e.id = picked.id
RETURNING e.id, e.event_type, e.severity, e.organization_id, e.wallet_id, e.payload, e.created_at
"""
PENDING = "status = 'pending'"
STALE = "status = 'dispatched' AND dispatched_at < now() - :stale"

# An endpoint takes an event when its filter is empty, names the type, or is a `prefix.*`.
PLAN_DELIVERIES_SQL = """
INSERT INTO webhook_deliveries (endpoint_id, event_id, organization_id)
SELECT e.id, :event, e.organization_id FROM webhook_endpoints e
 WHERE e.organization_id = :org AND e.is_active
   AND (cardinality(e.event_types) = 0
        OR EXISTS (SELECT 1 FROM unnest(e.event_types) AS f(pattern)
                    WHERE f.pattern = :type
                       OR (right(f.pattern, 1) = '*'
                           AND starts_with(:type, left(f.pattern, -1)))))
ON CONFLICT (endpoint_id, event_id) DO NOTHING
"""


def delivery_retry(settings: Settings) -> DeliveryRetry:
    return DeliveryRetry(
        initial_interval=settings.webhook_retry_initial_interval,
        maximum_interval=settings.webhook_retry_max_interval,
        maximum_attempts=settings.webhook_max_attempts,
        timeout=settings.webhook_timeout,
    )


class OutboxRelayActivities:
    def __init__(
        self,
        session_maker: async_sessionmaker[AsyncSession],
        settings: Settings,
        client: Client,
    ) -> None:
        self._session_maker = session_maker
        self._settings = settings
        self._client = client

    def definitions(self) -> list[Callable[..., Any]]:
        return [self.claim_events, self.fan_out_event, self.finish_events, self.forward]

    @activity.defn(name=CLAIM_EVENTS)
    async def claim_events(self) -> ClaimedEvents:
        """Claim pending events, then dispatched ones left stale, oldest first."""
        limit = self._settings.outbox_relay_batch_size
        async with self._session_maker() as session, session.begin():
            rows = list(
                await session.execute(text(CLAIM_SQL.format(condition=PENDING)), {"limit": limit})
            )
            if len(rows) < limit:
                rows += await session.execute(
                    text(CLAIM_SQL.format(condition=STALE)),
                    {"limit": limit - len(rows), "stale": self._settings.outbox_stale_after},
                )
        events = [
            RelayEvent(
                id=row.id, event_type=row.event_type, severity=row.severity,
                organization_id=row.organization_id, wallet_id=row.wallet_id,
                payload=dict(row.payload), created_at=row.created_at,
            )
            for row in rows
        ]  # fmt: skip
        return ClaimedEvents(
            events=sorted(events, key=lambda event: event.id),
            batch_size=limit,
            poll_interval=max(self._settings.outbox_relay_poll_interval, timedelta(seconds=1)),
        )

    @activity.defn(name=FAN_OUT_EVENT)
    async def fan_out_event(self, event: RelayEvent) -> FanOut:
        """Write the log line and plan the webhook deliveries still to be made."""
        event_log.info(
            OutboxEvent(
                id=event.id, event_type=event.event_type, severity=event.severity,
                organization_id=event.organization_id, wallet_id=event.wallet_id,
                payload=event.payload, created_at=event.created_at,
            ).log_line()
        )  # fmt: skip
        if event.organization_id is None:
            return FanOut(deliveries=[])
        async with self._session_maker() as session, session.begin():
            await session.execute(
                text(PLAN_DELIVERIES_SQL),
                {"event": event.id, "org": event.organization_id, "type": event.event_type},
            )
            rows = await session.execute(
                text(
                    "SELECT id, endpoint_id, organization_id FROM webhook_deliveries "
                    "WHERE event_id = :event AND status = 'pending' ORDER BY id"
                ),
                {"event": event.id},
            )
            retry = delivery_retry(self._settings)
            return FanOut(
                deliveries=[
                    WebhookDeliveryInput(
                        delivery_id=row.id, endpoint_id=row.endpoint_id, event_id=event.id,
                        organization_id=row.organization_id, retry=retry,
                    )
                    for row in rows
                ]
            )  # fmt: skip

    @activity.defn(name=FINISH_EVENTS)
    async def finish_events(self, request: FinishEventsInput) -> None:
        """Mark the events handed to every channel; their low-balance notifications too."""
        async with self._session_maker() as session, session.begin():
            await session.execute(
                text(
                    "UPDATE notification_events SET status = 'delivered' "
                    "WHERE id = ANY(:ids) AND status = 'dispatched'"
                ),
                {"ids": request.event_ids},
            )
            await session.execute(
                text(
                    "UPDATE low_balance_notifications n SET status = 'delivered', "
                    "delivered_at = now() FROM notification_events e "
                    "WHERE e.id = ANY(:ids) AND e.event_type IN (:low, :critical) "
                    "AND n.id = (e.payload->>'notification_id')::bigint "
                    "AND n.status = 'pending'"
                ),
                {"ids": request.event_ids, "low": BALANCE_LOW, "critical": BALANCE_CRITICAL},
            )

    @activity.defn(name=FORWARD_TO_AUTO_TOPUP)
    async def forward(self, event: RelayEvent) -> None:
        """Signal-with-start the wallet's AutoTopupWorkflow with the crossing as its trigger."""
        if not self._settings.token_auto_topup_enabled:
            logger.info("auto top-up is off (TOKEN_AUTO_TOPUP_ENABLED=false): event %s ignored",
                        event.id)  # fmt: skip
            return
        if event.wallet_id is None or event.organization_id is None:
            logger.warning("threshold event %s names no wallet: ignored", event.id)
            return
        await signal_auto_topup(
            self._client,
            task_queue=activity.info().task_queue,
            wallet_id=event.wallet_id,
            organization_id=event.organization_id,
            trigger=TopupTrigger(kind="threshold", key=f"event-{event.id}"),
        )
