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

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client

from db.outbox_events import OutboxEvent, claim_batch, mark_events_delivered
from db.webhooks import pending_deliveries, plan_deliveries
from tokenbill.settings import Settings
from tokenbill.workflow_client import WorkflowClient
from tokenbill.workflow_signals import signal_auto_topup
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
            claimed = await claim_batch(session, limit, self._settings.outbox_stale_after)
        events = [RelayEvent.model_validate(event, from_attributes=True) for event in claimed]
        return ClaimedEvents(
            events=sorted(events, key=lambda event: event.id),
            batch_size=limit,
            poll_interval=max(self._settings.outbox_relay_poll_interval, timedelta(seconds=1)),
        )

    @activity.defn(name=FAN_OUT_EVENT)
    async def fan_out_event(self, event: RelayEvent) -> FanOut:
        """Write the log line and plan the webhook deliveries still to be made."""
        event_log.info(OutboxEvent(**event.model_dump()).log_line())
        if event.organization_id is None:
            return FanOut(deliveries=[])
        async with self._session_maker() as session, session.begin():
            await plan_deliveries(
                session, event_id=event.id, organization_id=event.organization_id,
                event_type=event.event_type,
            )  # fmt: skip
            rows = await pending_deliveries(session, event.id)
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
            await mark_events_delivered(session, request.event_ids, (BALANCE_LOW, BALANCE_CRITICAL))

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
            WorkflowClient.over(self._client, activity.info().task_queue),
            wallet_id=event.wallet_id,
            organization_id=event.organization_id,
            trigger=TopupTrigger(kind="threshold", key=f"event-{event.id}"),
        )
