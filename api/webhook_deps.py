"""What the webhook routes declare: the webhook services built for the request's principal, the
DNS resolver URLs are checked with, loading an endpoint the principal may act on, and the rate
limit on test events."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.auth.dependencies import Configurer, Principal, authorize_organization
from api.deps import Session, SettingsDep, Workflows
from api.request_context import audit_context
from db.audit import Actor
from db.models import WebhookEndpoint
from services.administration.organizations import refuse_configuring_inactive
from services.rate_limits import count_request
from services.webhooks.deliveries import WebhookDeliveries
from services.webhooks.endpoints import WebhookEndpoints
from tokenbill.outbound_addresses import Resolver, system_resolver
from tokenbill.settings import Settings


def outbound_resolver() -> Resolver:
    """The DNS lookup URLs are checked with (a dependency, so tests never query a server)."""
    return system_resolver


def webhook_endpoints(
    request: Request,
    principal: Configurer,
    session: Session,
    settings: SettingsDep,
    resolver: Annotated[Resolver, Depends(outbound_resolver)],
) -> WebhookEndpoints:
    return WebhookEndpoints(
        session, settings, resolver, Actor.user(principal.id), audit_context(request)
    )


def webhook_deliveries(
    request: Request,
    principal: Configurer,
    session: Session,
    settings: SettingsDep,
    workflows: Workflows,
) -> WebhookDeliveries:
    return WebhookDeliveries(
        session, settings, workflows, Actor.user(principal.id), audit_context(request)
    )


Endpoints = Annotated[WebhookEndpoints, Depends(webhook_endpoints)]
Deliveries = Annotated[WebhookDeliveries, Depends(webhook_deliveries)]


async def load_endpoint(
    request: Request,
    principal: Principal,
    endpoints: WebhookEndpoints,
    endpoint_id: int,
    *,
    changing: AsyncSession | None = None,
) -> WebhookEndpoint:
    """The endpoint, if the principal may act on its organization. To change it (`changing`, the
    request's session): locked, and refused to the organization's own users while it is
    deactivated."""
    endpoint = await endpoints.get(endpoint_id, for_update=changing is not None)
    await authorize_organization(request, principal, endpoint.organization_id)
    if changing is not None:
        await refuse_configuring_inactive(changing, principal.is_admin, endpoint.organization_id)
    return endpoint


def webhook_test_bucket(organization_id: int) -> str:
    return f"webhook-tests:organization:{organization_id}"


def limit_test_events(
    session_maker: async_sessionmaker[AsyncSession], settings: Settings, organization_id: int
) -> Callable[[], Awaitable[None]]:
    """Counts one test event of the organization (429 past WEBHOOK_TEST_RATE_LIMIT per
    WEBHOOK_TEST_RATE_WINDOW): each makes the worker POST, and a tenant must not turn the route
    into a cannon."""

    async def count() -> None:
        await count_request(
            session_maker, bucket=webhook_test_bucket(organization_id),
            limit=settings.webhook_test_rate_limit, window=settings.webhook_test_rate_window,
        )  # fmt: skip

    return count
