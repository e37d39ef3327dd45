"""The audit record of a change to a webhook endpoint (or of a test event sent to it)."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import Actor, RequestContext
from db.models import WebhookEndpoint
from services import audit


class EndpointSnapshot(BaseModel):
    """What the audit log keeps of an endpoint before and after a change (never a secret)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    url: str
    event_types: list[str]
    description: str | None
    is_active: bool
    secret_hint: str
    previous_secret_expires_at: datetime | None


def snapshot(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return EndpointSnapshot.model_validate(endpoint).model_dump(mode="json")


class EndpointAudit:
    """Writes who did what to which endpoint, in the caller's transaction."""

    def __init__(self, session: AsyncSession, actor: Actor, context: RequestContext) -> None:
        self._session = session
        self._actor = actor
        self._context = context

    async def record(
        self,
        action: str,
        endpoint: WebhookEndpoint,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        target = audit.Target("webhook_endpoint", endpoint.id, endpoint.organization_id)
        await audit.record(self._session, self._actor, action, target, before, after, self._context)
