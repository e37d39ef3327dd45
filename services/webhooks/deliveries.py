"""Webhook deliveries: an endpoint's delivery log, and "send test event" (one signed
`webhook.test` event to one endpoint, through its own WebhookDeliveryWorkflow)."""

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from db.audit import Actor, RequestContext
from db.models import WebhookEndpoint
from db.outbox_events import TEST_EVENT_TYPE, record_delivered_event
from db.webhooks import DeliveryRecord, add_delivery, fail_delivery, list_deliveries
from services.errors import conflict, unavailable
from services.webhooks.audit import EndpointAudit
from tokenbill.settings import Settings
from tokenbill.workflow_client import WorkflowClient, WorkflowUnavailable
from workflows.search_attributes import ORGANIZATION_ID
from workflows.webhook_delivery import WebhookDeliveryWorkflow
from workflows.webhook_delivery_types import (
    DeliveryRetry,
    WebhookDeliveryInput,
    webhook_delivery_workflow_id,
)

logger = logging.getLogger("tokenbill.services.webhooks")


@dataclass(frozen=True)
class RecordedTestEvent:
    """A test event recorded for one endpoint, and its delivery still to be started."""

    event_id: int
    delivery_id: int
    endpoint_id: int
    organization_id: int

    @property
    def workflow_id(self) -> str:
        return webhook_delivery_workflow_id(self.delivery_id)


class WebhookDeliveries:
    def __init__(
        self,
        session: AsyncSession,
        settings: Settings,
        workflows: WorkflowClient,
        actor: Actor,
        context: RequestContext,
    ) -> None:
        self._session = session
        self._settings = settings
        self._workflows = workflows
        self._audit = EndpointAudit(session, actor, context)

    async def listing(
        self, endpoint_id: int, status: str | None, *, limit: int, offset: int
    ) -> tuple[list[DeliveryRecord], int]:
        """A page of the endpoint's deliveries, newest first, each with its attempts; the total."""
        return await list_deliveries(self._session, endpoint_id, status, limit=limit, offset=offset)

    async def record_test_event(
        self,
        endpoint: WebhookEndpoint,
        message: str,
        throttle: Callable[[], Awaitable[None]],
    ) -> RecordedTestEvent:
        """Record a test event and its delivery to this endpoint (uncommitted), once `throttle`
        (the caller's rate limit: each test event makes the worker POST) lets it through."""
        if not endpoint.is_active:
            raise conflict("webhook_inactive", f"Webhook endpoint {endpoint.id} is deactivated.")
        await throttle()
        # Delivered to this endpoint only: recorded as handed over, so the relay never fans it out.
        event_id = await record_delivered_event(
            self._session, idempotency_key=f"webhook-test:{endpoint.id}:{uuid.uuid4().hex}",
            organization_id=endpoint.organization_id, event_type=TEST_EVENT_TYPE,
            payload={"endpoint_id": endpoint.id, "message": message},
        )  # fmt: skip
        delivery_id = await add_delivery(
            self._session, endpoint_id=endpoint.id, event_id=event_id,
            organization_id=endpoint.organization_id,
        )  # fmt: skip
        await self._audit.record("webhook.test", endpoint, None,
                                 {"event_id": event_id, "delivery_id": delivery_id})  # fmt: skip
        return RecordedTestEvent(event_id, delivery_id, endpoint.id, endpoint.organization_id)

    async def start(self, test: RecordedTestEvent) -> None:
        """Start the committed test event's delivery; when Temporal is not reached, record the
        delivery failed (uncommitted) and refuse (UNAVAILABLE)."""
        delivery = WebhookDeliveryInput(
            delivery_id=test.delivery_id, endpoint_id=test.endpoint_id, event_id=test.event_id,
            organization_id=test.organization_id, retry=self._retry(),
        )  # fmt: skip
        organization = SearchAttributePair(ORGANIZATION_ID, str(test.organization_id))
        try:
            await self._workflows.start_new(
                WebhookDeliveryWorkflow.run,
                delivery,
                workflow_id=test.workflow_id,
                search_attributes=TypedSearchAttributes([organization]),
            )
        except WorkflowUnavailable as exc:
            logger.warning("test event for webhook %s not started: %s", test.endpoint_id, exc)
            await fail_delivery(
                self._session, test.delivery_id, "the workflow service was unavailable"
            )
            raise unavailable(
                "workflow_unavailable",
                "The workflow service is unavailable; nothing was sent. Retry in a moment.",
            ) from exc

    def _retry(self) -> DeliveryRetry:
        settings = self._settings
        return DeliveryRetry(
            initial_interval=settings.webhook_retry_initial_interval,
            maximum_interval=settings.webhook_retry_max_interval,
            maximum_attempts=settings.webhook_max_attempts,
            timeout=settings.webhook_timeout,
        )
