"""Starting one webhook delivery from the API (the "send test event" route)."""

from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy

from tokenbill.settings import Settings
from workflows.search_attributes import ORGANIZATION_ID
from workflows.webhook_delivery_types import (
    WEBHOOK_DELIVERY_WORKFLOW,
    DeliveryRetry,
    WebhookDeliveryInput,
    webhook_delivery_workflow_id,
)


async def start_delivery(
    client: Client,
    settings: Settings,
    *,
    delivery_id: int,
    endpoint_id: int,
    event_id: int,
    organization_id: int,
) -> None:
    await client.start_workflow(
        WEBHOOK_DELIVERY_WORKFLOW,
        WebhookDeliveryInput(
            delivery_id=delivery_id,
            endpoint_id=endpoint_id,
            event_id=event_id,
            organization_id=organization_id,
            retry=DeliveryRetry(
                initial_interval=settings.webhook_retry_initial_interval,
                maximum_interval=settings.webhook_retry_max_interval,
                maximum_attempts=settings.webhook_max_attempts,
                timeout=settings.webhook_timeout,
            ),
        ),
        id=webhook_delivery_workflow_id(delivery_id),
        task_queue=settings.temporal_task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(ORGANIZATION_ID, str(organization_id))]
        ),
    )
