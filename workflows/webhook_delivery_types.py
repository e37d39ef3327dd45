"""WebhookDeliveryWorkflow's contract: one event to one endpoint, retried with backoff."""

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel

WEBHOOK_DELIVERY_WORKFLOW = "WebhookDeliveryWorkflow"
DELIVER_WEBHOOK = "webhooks.deliver"
FINISH_DELIVERY = "webhooks.finish_delivery"

# ApplicationError types the delivery activity raises.
WEBHOOK_REJECTED = "WebhookRejected"  # a 4xx other than 408/429: retrying cannot help
WEBHOOK_UNAVAILABLE = "WebhookUnavailable"  # 5xx, 408, 429, timeouts, refused connections
ENDPOINT_GONE = "WebhookEndpointGone"  # deactivated, or the delivery no longer exists

DeliveryStatus = Literal["succeeded", "failed"]


def webhook_delivery_workflow_id(delivery_id: int) -> str:
    return f"webhook-delivery-{delivery_id}"


class DeliveryRetry(BaseModel):
    """The delivery activity's retry policy, from the settings of the worker that planned it."""

    initial_interval: timedelta
    maximum_interval: timedelta
    maximum_attempts: int
    timeout: timedelta


class WebhookDeliveryInput(BaseModel):
    delivery_id: int
    endpoint_id: int
    event_id: int
    organization_id: int
    retry: DeliveryRetry


class AttemptOutcome(BaseModel):
    status_code: int
    duration_ms: int


class FinishDeliveryInput(BaseModel):
    delivery_id: int
    status: DeliveryStatus
    error: str | None = None


class WebhookDeliveryResult(BaseModel):
    delivery_id: int
    status: DeliveryStatus
    error: str | None = None
