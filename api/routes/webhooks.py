"""Webhook endpoints per organization (tokens.configure): create (the secret is shown once),
list, read, update, rotate the secret, deactivate, the delivery log, and "send test event".
Changes are audited.

A URL must point at a public address (tokenbill/outbound_addresses.py) unless
WEBHOOK_ALLOW_PRIVATE_ADDRESSES is on. Secrets are stored encrypted, and so is the secret in the
stored replay of a creation or rotation answer. Deliveries are POSTs of a JSON event signed as
docs/webhooks.md describes. The work is services/webhooks'.
"""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from api.auth.dependencies import Configurer, authorize_organization
from api.deps import Session, SessionMaker, SettingsDep
from api.idempotency import IDEMPOTENT_ROUTE, Answer, idempotent_request, respond_once
from api.openapi_errors import CONFIGURING_INACTIVE_ERRORS
from api.pagination import PageParams
from api.schemas.common import AUTH_ERRORS, MAX_ROW_ID, Page
from api.schemas.webhooks import (
    DeliveryOut,
    DeliveryStatusFilter,
    SecretRotated,
    SecretRotation,
    TestEventAccepted,
    TestEventRequest,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
    WebhookUpdate,
)
from api.webhook_deps import Deliveries, Endpoints, limit_test_events, load_endpoint
from api.webhook_secret_answers import respond_once_with_secret, revealed
from db.models import WebhookEndpoint
from services.administration.organizations import refuse_configuring_inactive
from services.errors import ServiceError
from services.idempotency import forget
from services.webhooks.deliveries import RecordedTestEvent

router = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=AUTH_ERRORS)
EndpointId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="Webhook endpoint id.")]


def _out(endpoint: WebhookEndpoint) -> WebhookOut:
    return WebhookOut.model_validate(endpoint)


@router.post(
    "",
    openapi_extra=IDEMPOTENT_ROUTE,
    status_code=201,
    response_model=WebhookCreated,
    summary="Create a webhook endpoint",
    responses=CONFIGURING_INACTIVE_ERRORS,
    description="Requires `tokens.configure` on the organization and an `Idempotency-Key`. "
    "The answer carries the signing `secret`, shown only here (and to a replay of the same "
    "request). The URL's host must be, and resolve only to, public addresses (422 "
    "`webhook_url_not_public`). Audited.",
)
async def create_webhook(
    request: Request,
    principal: Configurer,
    session: Session,
    settings: SettingsDep,
    endpoints: Endpoints,
    body: WebhookCreate,
) -> JSONResponse:
    await authorize_organization(request, principal, body.organization_id)

    async def work() -> WebhookCreated:
        await refuse_configuring_inactive(session, principal.is_admin, body.organization_id)
        made = await endpoints.create(
            body.organization_id, body.url, body.event_types, body.description
        )
        return revealed(WebhookCreated, made)

    return await respond_once_with_secret(session, request, principal, body, settings, 201, work)


@router.get(
    "",
    summary="List webhook endpoints",
    description="Requires `tokens.configure`. A user lists its own organization's endpoints; "
    "an admin passes `organization_id` (or sees all). Deactivated endpoints are listed too.",
)
async def list_webhooks(
    request: Request,
    principal: Configurer,
    endpoints: Endpoints,
    page: PageParams,
    organization_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> Page[WebhookOut]:
    if organization_id is None and not principal.is_admin:
        organization_id = principal.organization_id
    if organization_id is not None:
        await authorize_organization(request, principal, organization_id)
    rows, total = await endpoints.listing(
        organization_id, all_organizations=principal.is_admin, limit=page.limit,
        offset=page.offset,
    )  # fmt: skip
    return Page[WebhookOut](
        items=[_out(row) for row in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.get(
    "/{endpoint_id}",
    summary="Read a webhook endpoint",
    description="Requires `tokens.configure` on the endpoint's organization.",
)
async def get_webhook(
    request: Request, principal: Configurer, endpoints: Endpoints, endpoint_id: EndpointId
) -> WebhookOut:
    return _out(await load_endpoint(request, principal, endpoints, endpoint_id))


@router.patch(
    "/{endpoint_id}",
    summary="Update a webhook endpoint",
    responses=CONFIGURING_INACTIVE_ERRORS,
    description="Requires `tokens.configure`. Changes only the fields sent (`is_active: true` "
    "reactivates); a new URL must point at public addresses. Audited with before and after.",
)
async def update_webhook(
    request: Request,
    principal: Configurer,
    session: Session,
    endpoints: Endpoints,
    endpoint_id: EndpointId,
    body: WebhookUpdate,
) -> WebhookOut:
    endpoint = await load_endpoint(request, principal, endpoints, endpoint_id, changing=session)
    return _out(await endpoints.update(endpoint, body.model_dump(exclude_unset=True)))


@router.post(
    "/{endpoint_id}/rotate-secret",
    openapi_extra=IDEMPOTENT_ROUTE,
    response_model=SecretRotated,
    summary="Rotate the signing secret",
    responses=CONFIGURING_INACTIVE_ERRORS,
    description="Requires `tokens.configure` and an `Idempotency-Key`. Makes a new secret, "
    "shown only in this answer (and to a replay of the same request); the current one keeps "
    "signing beside it for `overlap` (default PT24H, at most P7D), so deliveries carry both "
    "signatures until `previous_secret_expires_at`. A secret still in an earlier overlap stops "
    "signing at once. Audited.",
)
async def rotate_secret(
    request: Request,
    principal: Configurer,
    session: Session,
    settings: SettingsDep,
    endpoints: Endpoints,
    endpoint_id: EndpointId,
    body: SecretRotation,
) -> JSONResponse:
    endpoint = await load_endpoint(request, principal, endpoints, endpoint_id, changing=session)

    async def work() -> WebhookCreated:
        return revealed(SecretRotated, await endpoints.rotate_secret(endpoint, body.overlap))

    return await respond_once_with_secret(session, request, principal, body, settings, 200, work)


@router.delete(
    "/{endpoint_id}",
    summary="Deactivate a webhook endpoint",
    responses=CONFIGURING_INACTIVE_ERRORS,
    description="Requires `tokens.configure`. No more events are sent to it (deliveries in "
    "retry stop at their next attempt); its delivery log stays readable. Audited.",
)
async def deactivate_webhook(
    request: Request,
    principal: Configurer,
    session: Session,
    endpoints: Endpoints,
    endpoint_id: EndpointId,
) -> WebhookOut:
    endpoint = await load_endpoint(request, principal, endpoints, endpoint_id, changing=session)
    return _out(await endpoints.deactivate(endpoint))


@router.get(
    "/{endpoint_id}/deliveries",
    summary="Read an endpoint's delivery log",
    description="Requires `tokens.configure`. Newest first; each delivery (one event to this "
    "endpoint) lists every attempt with its HTTP status or error and duration.",
)
async def list_deliveries(
    request: Request,
    principal: Configurer,
    endpoints: Endpoints,
    deliveries: Deliveries,
    endpoint_id: EndpointId,
    page: PageParams,
    status: Annotated[DeliveryStatusFilter | None, Query()] = None,
) -> Page[DeliveryOut]:
    await load_endpoint(request, principal, endpoints, endpoint_id)
    records, total = await deliveries.listing(
        endpoint_id, status, limit=page.limit, offset=page.offset
    )
    return Page[DeliveryOut](
        items=[DeliveryOut.model_validate(record) for record in records], total=total,
        limit=page.limit, offset=page.offset,
    )  # fmt: skip


@router.post(
    "/{endpoint_id}/test",
    openapi_extra=IDEMPOTENT_ROUTE,
    status_code=202,
    response_model=TestEventAccepted,
    summary="Send a test event",
    description="Requires `tokens.configure` and an `Idempotency-Key`. Sends a signed "
    "`webhook.test` event to this endpoint only, with the same retries as any event; follow it "
    "in the delivery log. At most WEBHOOK_TEST_RATE_LIMIT per organization in each "
    "WEBHOOK_TEST_RATE_WINDOW (429 `rate_limited` beyond). 503 `workflow_unavailable` when the "
    "workflow service cannot be reached. Audited.",
)
async def send_test_event(
    request: Request,
    principal: Configurer,
    session: Session,
    settings: SettingsDep,
    session_maker: SessionMaker,
    endpoints: Endpoints,
    deliveries: Deliveries,
    endpoint_id: EndpointId,
    body: TestEventRequest,
) -> JSONResponse:
    endpoint = await load_endpoint(request, principal, endpoints, endpoint_id)
    throttle = limit_test_events(session_maker, settings, endpoint.organization_id)
    recorded: list[RecordedTestEvent] = []  # the test event this request records (none on a replay)

    async def work() -> Answer:
        recorded.append(await deliveries.record_test_event(endpoint, body.message, throttle))
        return Answer(202, TestEventAccepted.model_validate(recorded[0]).model_dump(mode="json"))

    # respond_once commits the answer with the rows, before the start: the delivery activity
    # must find them.
    answer = await respond_once(session, request, principal, body, work)
    for test in recorded:
        try:
            await deliveries.start(test)
        except ServiceError:  # not started: the delivery is failed, and the key free for a retry
            await forget(session, idempotent_request(request, principal, body))
            await session.commit()
            raise
    return answer
