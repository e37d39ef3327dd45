"""Webhook endpoints: create, list, read, update, deactivate, and rotate the signing secret
(stored encrypted; shown only to the request that made it)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import Actor, RequestContext
from db.models import Organization, WebhookEndpoint
from db.webhook_secrets import SecretBox, new_signing_secret, secret_hint
from db.webhooks import list_endpoints
from services.errors import ErrorKind, invalid, not_found, organization_not_found
from services.webhooks.addresses import require_public_url
from services.webhooks.audit import EndpointAudit, snapshot
from tokenbill.outbound_addresses import Resolver
from tokenbill.settings import Settings


@dataclass(frozen=True)
class EndpointWithSecret:
    """An endpoint and its new signing secret, in clear: the one time it is shown."""

    endpoint: WebhookEndpoint
    secret: str


class WebhookEndpoints:
    """The commands and queries on webhook endpoints, in the caller's transaction; a change is
    committed by the command (or, for the secret-bearing ones, with their stored answer)."""

    def __init__(
        self,
        session: AsyncSession,
        settings: Settings,
        resolver: Resolver,
        actor: Actor,
        context: RequestContext,
    ) -> None:
        self._session = session
        self._settings = settings
        self._resolver = resolver
        self._box = SecretBox(settings)
        self._audit = EndpointAudit(session, actor, context)

    async def get(self, endpoint_id: int, *, for_update: bool = False) -> WebhookEndpoint:
        """The endpoint (NOT_FOUND when there is none), row-locked `for_update`."""
        endpoint = await self._session.get(WebhookEndpoint, endpoint_id, with_for_update=for_update)
        if endpoint is None:
            raise not_found("webhook_not_found", f"Webhook endpoint {endpoint_id} does not exist.")
        return endpoint

    async def listing(
        self, organization_id: int | None, *, all_organizations: bool, limit: int, offset: int
    ) -> tuple[list[WebhookEndpoint], int]:
        """A page of one organization's endpoints (every one's with `all_organizations` and no
        organization), deactivated ones too, and the total."""
        return await list_endpoints(
            self._session, organization_id, all_organizations=all_organizations, limit=limit,
            offset=offset,
        )  # fmt: skip

    async def create(
        self,
        organization_id: int,
        url: str,
        event_types: list[str],
        description: str | None,
    ) -> EndpointWithSecret:
        if await self._session.get(Organization, organization_id) is None:
            raise organization_not_found(organization_id, ErrorKind.INVALID)
        await require_public_url(url, self._settings, self._resolver)
        secret = new_signing_secret()
        endpoint = WebhookEndpoint(
            organization_id=organization_id, url=url, secret_ciphertext=self._box.encrypt(secret),
            secret_hint=secret_hint(secret), event_types=sorted(set(event_types)),
            description=description,
        )  # fmt: skip
        self._session.add(endpoint)
        await self._session.flush()
        await self._session.refresh(endpoint)
        await self._audit.record("webhook.create", endpoint, None, snapshot(endpoint))
        return EndpointWithSecret(endpoint, secret)

    async def update(self, endpoint: WebhookEndpoint, changes: dict[str, Any]) -> WebhookEndpoint:
        """Apply the fields given (`is_active: True` reactivates) and commit, if anything
        changed."""
        if changes.get("url", "") is None or changes.get("event_types", []) is None:
            raise invalid("validation_error", "url and event_types cannot be null.")
        if changes.get("is_active", True) is None:
            raise invalid("validation_error", "is_active cannot be null.")
        if "url" in changes:
            await require_public_url(changes["url"], self._settings, self._resolver)
        before = snapshot(endpoint)
        for field, value in changes.items():
            setattr(endpoint, field, sorted(set(value)) if field == "event_types" else value)
        if snapshot(endpoint) != before:
            await self._changed("webhook.update", endpoint, before)
        return endpoint

    async def deactivate(self, endpoint: WebhookEndpoint) -> WebhookEndpoint:
        """Send it no more events (deliveries in retry stop at their next attempt)."""
        if endpoint.is_active:
            before = snapshot(endpoint)
            endpoint.is_active = False
            await self._changed("webhook.deactivate", endpoint, before)
        return endpoint

    async def rotate_secret(
        self, endpoint: WebhookEndpoint, overlap: timedelta
    ) -> EndpointWithSecret:
        """A new secret; the current one keeps signing beside it for `overlap` (one still in an
        earlier overlap stops at once)."""
        before = snapshot(endpoint)
        now = await self._session.scalar(select(func.now()))
        assert now is not None
        secret = new_signing_secret()
        endpoint.previous_secret_ciphertext = endpoint.secret_ciphertext
        endpoint.previous_secret_expires_at = now + overlap
        endpoint.secret_ciphertext = self._box.encrypt(secret)
        endpoint.secret_hint = secret_hint(secret)
        endpoint.updated_at = now
        await self._session.flush()
        await self._session.refresh(endpoint)
        await self._audit.record("webhook.rotate_secret", endpoint, before, snapshot(endpoint))
        return EndpointWithSecret(endpoint, secret)

    async def _changed(
        self, action: str, endpoint: WebhookEndpoint, before: dict[str, Any]
    ) -> None:
        endpoint.updated_at = datetime.now(UTC)
        await self._session.flush()
        await self._session.refresh(endpoint)
        await self._audit.record(action, endpoint, before, snapshot(endpoint))
        await self._session.commit()
