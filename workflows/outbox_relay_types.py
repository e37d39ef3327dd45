"""The relay's activities: names and payloads (the wake contract is in outbox_types)."""

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from workflows.webhook_delivery_types import WebhookDeliveryInput

CLAIM_EVENTS = "outbox.claim_events"
FAN_OUT_EVENT = "outbox.fan_out_event"
FINISH_EVENTS = "outbox.finish_events"
FORWARD_TO_AUTO_TOPUP = "outbox.forward_to_auto_topup"


class RelayEvent(BaseModel):
    id: int
    event_type: str
    severity: str
    organization_id: int | None
    wallet_id: int | None
    payload: dict[str, Any]
    created_at: datetime


class ClaimedEvents(BaseModel):
    """A claimed batch, and how the relay should pace itself (from the worker's settings)."""

    events: list[RelayEvent]
    batch_size: int
    poll_interval: timedelta


class FanOut(BaseModel):
    """The webhook deliveries of one event that are not finished yet."""

    deliveries: list[WebhookDeliveryInput]


class FinishEventsInput(BaseModel):
    event_ids: list[int]
