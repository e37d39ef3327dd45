"""Webhook endpoints per organization (tokens.configure): create (the secret is shown once),
list, read, update, rotate the secret, deactivate, the delivery log, and "send test event".
Changes are audited.

A URL must point at a public address (tokenbill/outbound_addresses.py) unless
WEBHOOK_ALLOW_PRIVATE_ADDRESSES is on. Secrets are stored encrypted, and so is the secret in the
stored replay of a creation or rotation answer. Deliveries are POSTs of a JSON event signed as
docs/webhooks.md describes.
"""

import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import false, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.service import RPCError

from api.auth.dependencies import Configurer, Principal, authorize_organization
from api.deps import Session, SessionMaker, SettingsDep, Workflows
from api.errors import ApiError
from api.idempotency import (
    IDEMPOTENT_ROUTE,
    IdempotentRequest,
    StoredResponse,
    claim,
    forget,
    idempotent_request,
    store_response,
)
from api.organization_status import CONFIGURING_INACTIVE_ERRORS, refuse_configuring_inactive
from api.pagination import PageParams
from api.rate_limit import count_request
from api.request_context import audit_context
from api.schemas.common import AUTH_ERRORS, MAX_ROW_ID, Page
from api.schemas.webhooks import (
    DeliveryAttemptOut,
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
from api.webhook_delivery_start import start_delivery
from db.audit import Actor, write_audit
from db.models import (
    NotificationEvent,
    Organization,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
)
from db.outbox_events import TEST_EVENT_TYPE
from db.webhook_secrets import SecretBox, SecretUnreadable, new_signing_secret, secret_hint
from services.workflow_client import WorkflowUnavailable
from tokenbill.outbound_addresses import (
    AddressRefused,
    HostUnresolvable,
    Resolver,
    check_url,
    system_resolver,
)
from tokenbill.settings import Settings
from workflows.webhook_delivery_types import webhook_delivery_workflow_id

logger = logging.getLogger("tokenbill.api.webhooks")
router = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=AUTH_ERRORS)
EndpointId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="Webhook endpoint id.")]
# The stored replay of an answer that shows a secret holds it under this key, encrypted.
REPLAY_SECRET_FIELD = "secret_ciphertext"


def webhook_test_bucket(organization_id: int) -> str:
    return f"webhook-tests:organization:{organization_id}"


def outbound_resolver() -> Resolver:
    """The DNS lookup URLs are checked with (a dependency, so tests never query a server)."""
    return system_resolver


ResolverDep = Annotated[Resolver, Depends(outbound_resolver)]


def _out(endpoint: WebhookEndpoint) -> WebhookOut:
    return WebhookOut(
        id=endpoint.id, organization_id=endpoint.organization_id, url=endpoint.url,
        event_types=list(endpoint.event_types), description=endpoint.description,
        is_active=endpoint.is_active, secret_hint=endpoint.secret_hint,
        previous_secret_expires_at=endpoint.previous_secret_expires_at,
        created_at=endpoint.created_at, updated_at=endpoint.updated_at,
    )  # fmt: skip


async def _require_public_url(url: str, settings: Settings, resolver: Resolver) -> None:
    """422 unless the URL's host is, and resolves only to, public addresses."""
    if settings.webhook_allow_private_addresses:
        return
    try:
        await check_url(url, allow_private=False, resolver=resolver)
    except AddressRefused as exc:
        raise ApiError(
            422,
            "webhook_url_not_public",
            f"The webhook URL's host {exc.host} is or resolves to a {exc.kind} address; webhooks "
            "are delivered only to public internet addresses.",
            {"field": "url", "address_kind": exc.kind},
        ) from None
    except HostUnresolvable as exc:
        raise ApiError(
            422,
            "webhook_url_unresolvable",
            f"The webhook URL's host {exc.host} cannot be resolved to an address.",
            {"field": "url"},
        ) from None


async def _answer_with_secret(
    session: AsyncSession,
    idempotency: IdempotentRequest,
    status: int,
    answer: WebhookCreated,
    box: SecretBox,
) -> JSONResponse:
    """Store the answer for replays with its secret encrypted, commit, and send it in full."""
    body = answer.model_dump(mode="json")
    stored = {**body, "secret": None, REPLAY_SECRET_FIELD: box.encrypt(answer.secret)}
    await store_response(session, idempotency, status, stored)
    await session.commit()
    return JSONResponse(body, status_code=status)


def _replay_with_secret(replay: StoredResponse, box: SecretBox) -> JSONResponse:
    body = dict(replay.body)
    ciphertext = body.pop(REPLAY_SECRET_FIELD, None)
    if isinstance(ciphertext, str):
        try:
            body["secret"] = box.decrypt(ciphertext)
        except SecretUnreadable:
            raise ApiError(
                409,
                "webhook_secret_unavailable",
                "The secret of this stored answer can no longer be read; rotate the endpoint's "
                "secret to get a new one.",
            ) from None
    return JSONResponse(body, status_code=replay.status)


def _snapshot(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return _out(endpoint).model_dump(mode="json", exclude={"created_at", "updated_at"})


async def _load(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    endpoint_id: int,
    *,
    for_update: bool = False,
) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, endpoint_id, with_for_update=for_update)
    if endpoint is None:
        raise ApiError(404, "webhook_not_found", f"Webhook endpoint {endpoint_id} does not exist.")
    await authorize_organization(request, principal, endpoint.organization_id)
    if for_update:  # a change, not a read
        await refuse_configuring_inactive(session, principal, endpoint.organization_id)
    return endpoint


async def _audit(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    action: str,
    endpoint: WebhookEndpoint,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    await write_audit(
        session, actor=Actor.user(principal.id), action=action,
        organization_id=endpoint.organization_id, target_type="webhook_endpoint",
        target_id=endpoint.id, before=before, after=after, context=audit_context(request),
    )  # fmt: skip


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
    resolver: ResolverDep,
    body: WebhookCreate,
) -> JSONResponse:
    await authorize_organization(request, principal, body.organization_id)
    idempotency = idempotent_request(request, principal, body)
    box = SecretBox(settings)
    replay = await claim(session, idempotency)
    if replay is not None:
        return _replay_with_secret(replay, box)
    if await session.get(Organization, body.organization_id) is None:
        raise ApiError(
            422, "organization_not_found", f"Organization {body.organization_id} does not exist."
        )
    await refuse_configuring_inactive(session, principal, body.organization_id)
    await _require_public_url(body.url, settings, resolver)
    secret = new_signing_secret()
    endpoint = WebhookEndpoint(
        organization_id=body.organization_id, url=body.url,
        secret_ciphertext=box.encrypt(secret), secret_hint=secret_hint(secret),
        event_types=sorted(set(body.event_types)), description=body.description,
    )  # fmt: skip
    session.add(endpoint)
    await session.flush()
    await session.refresh(endpoint)
    await _audit(request, session, principal, "webhook.create", endpoint, None,
                 _snapshot(endpoint))  # fmt: skip
    answer = WebhookCreated(**_out(endpoint).model_dump(), secret=secret)
    return await _answer_with_secret(session, idempotency, 201, answer, box)


@router.get(
    "",
    summary="List webhook endpoints",
    description="Requires `tokens.configure`. A user lists its own organization's endpoints; "
    "an admin passes `organization_id` (or sees all). Deactivated endpoints are listed too.",
)
async def list_webhooks(
    request: Request,
    principal: Configurer,
    session: Session,
    page: PageParams,
    organization_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> Page[WebhookOut]:
    if organization_id is None and not principal.is_admin:
        organization_id = principal.organization_id
    query = select(WebhookEndpoint)
    if organization_id is not None:
        await authorize_organization(request, principal, organization_id)
        query = query.where(WebhookEndpoint.organization_id == organization_id)
    elif not principal.is_admin:
        query = query.where(false())
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(WebhookEndpoint.id).limit(page.limit).offset(page.offset)
    )
    return Page[WebhookOut](
        items=[_out(row) for row in rows], total=int(total or 0), limit=page.limit,
        offset=page.offset,
    )  # fmt: skip


@router.get(
    "/{endpoint_id}",
    summary="Read a webhook endpoint",
    description="Requires `tokens.configure` on the endpoint's organization.",
)
async def get_webhook(
    request: Request, principal: Configurer, session: Session, endpoint_id: EndpointId
) -> WebhookOut:
    return _out(await _load(request, session, principal, endpoint_id))


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
    settings: SettingsDep,
    resolver: ResolverDep,
    endpoint_id: EndpointId,
    body: WebhookUpdate,
) -> WebhookOut:
    endpoint = await _load(request, session, principal, endpoint_id, for_update=True)
    before = _snapshot(endpoint)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("url", "") is None or changes.get("event_types", []) is None:
        raise ApiError(422, "validation_error", "url and event_types cannot be null.")
    if changes.get("is_active", True) is None:
        raise ApiError(422, "validation_error", "is_active cannot be null.")
    if "url" in changes:
        await _require_public_url(changes["url"], settings, resolver)
    for field, value in changes.items():
        setattr(endpoint, field, sorted(set(value)) if field == "event_types" else value)
    if _snapshot(endpoint) != before:
        endpoint.updated_at = datetime.now(UTC)
        await session.flush()
        await session.refresh(endpoint)
        await _audit(request, session, principal, "webhook.update", endpoint, before,
                     _snapshot(endpoint))  # fmt: skip
        await session.commit()
    return _out(endpoint)


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
    endpoint_id: EndpointId,
    body: SecretRotation,
) -> JSONResponse:
    endpoint = await _load(request, session, principal, endpoint_id, for_update=True)
    idempotency = idempotent_request(request, principal, body)
    box = SecretBox(settings)
    replay = await claim(session, idempotency)
    if replay is not None:
        return _replay_with_secret(replay, box)
    before = _snapshot(endpoint)
    now = await session.scalar(select(func.now()))
    assert now is not None
    secret = new_signing_secret()
    endpoint.previous_secret_ciphertext = endpoint.secret_ciphertext
    endpoint.previous_secret_expires_at = now + body.overlap
    endpoint.secret_ciphertext = box.encrypt(secret)
    endpoint.secret_hint = secret_hint(secret)
    endpoint.updated_at = now
    await session.flush()
    await session.refresh(endpoint)
    await _audit(request, session, principal, "webhook.rotate_secret", endpoint, before,
                 _snapshot(endpoint))  # fmt: skip
    answer = SecretRotated(**_out(endpoint).model_dump(), secret=secret)
    return await _answer_with_secret(session, idempotency, 200, answer, box)


@router.delete(
    "/{endpoint_id}",
    summary="Deactivate a webhook endpoint",
    responses=CONFIGURING_INACTIVE_ERRORS,
    description="Requires `tokens.configure`. No more events are sent to it (deliveries in "
    "retry stop at their next attempt); its delivery log stays readable. Audited.",
)
async def deactivate_webhook(
    request: Request, principal: Configurer, session: Session, endpoint_id: EndpointId
) -> WebhookOut:
    endpoint = await _load(request, session, principal, endpoint_id, for_update=True)
    if endpoint.is_active:
        before = _snapshot(endpoint)
        endpoint.is_active = False
        endpoint.updated_at = datetime.now(UTC)
        await session.flush()
        await session.refresh(endpoint)
        await _audit(request, session, principal, "webhook.deactivate", endpoint, before,
                     _snapshot(endpoint))  # fmt: skip
        await session.commit()
    return _out(endpoint)


@router.get(
    "/{endpoint_id}/deliveries",
    summary="Read an endpoint's delivery log",
    description="Requires `tokens.configure`. Newest first; each delivery (one event to this "
    "endpoint) lists every attempt with its HTTP status or error and duration.",
)
async def list_deliveries(
    request: Request,
    principal: Configurer,
    session: Session,
    endpoint_id: EndpointId,
    page: PageParams,
    status: Annotated[DeliveryStatusFilter | None, Query()] = None,
) -> Page[DeliveryOut]:
    await _load(request, session, principal, endpoint_id)
    query = (
        select(WebhookDelivery, NotificationEvent.event_type)
        .join(NotificationEvent, NotificationEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
    )
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = (
        await session.execute(
            query.order_by(WebhookDelivery.id.desc()).limit(page.limit).offset(page.offset)
        )
    ).all()
    attempts: dict[int, list[DeliveryAttemptOut]] = {delivery.id: [] for delivery, _ in rows}
    for attempt in await session.scalars(
        select(WebhookDeliveryAttempt)
        .where(WebhookDeliveryAttempt.delivery_id.in_(list(attempts)))
        .order_by(WebhookDeliveryAttempt.id)
    ):
        attempts[attempt.delivery_id].append(
            DeliveryAttemptOut(
                attempt=attempt.attempt, status_code=attempt.status_code, error=attempt.error,
                duration_ms=attempt.duration_ms, created_at=attempt.created_at,
            )
        )  # fmt: skip
    items = [
        DeliveryOut(
            id=delivery.id, event_id=delivery.event_id, event_type=event_type,
            status=delivery.status, attempts=delivery.attempts,
            last_status_code=delivery.last_status_code, last_error=delivery.last_error,
            created_at=delivery.created_at, completed_at=delivery.completed_at,
            attempt_log=attempts[delivery.id],
        )
        for delivery, event_type in rows
    ]  # fmt: skip
    return Page[DeliveryOut](
        items=items, total=int(total or 0), limit=page.limit, offset=page.offset
    )


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
    temporal: Workflows,
    session_maker: SessionMaker,
    endpoint_id: EndpointId,
    body: TestEventRequest,
) -> JSONResponse:
    endpoint = await _load(request, session, principal, endpoint_id)
    idempotency = idempotent_request(request, principal, body)
    replay = await claim(session, idempotency)
    if replay is not None:
        return replay.response()
    if not endpoint.is_active:
        raise ApiError(409, "webhook_inactive", f"Webhook endpoint {endpoint_id} is deactivated.")
    # Each test event makes the worker POST: a tenant must not turn the route into a cannon.
    await count_request(
        session_maker,
        bucket=webhook_test_bucket(endpoint.organization_id),
        limit=settings.webhook_test_rate_limit,
        window=settings.webhook_test_rate_window,
    )
    payload = {"endpoint_id": endpoint.id, "message": body.message}
    # Delivered to this endpoint only: recorded as handed over, so the relay never fans it out.
    event_id = await session.scalar(
        text(
            "INSERT INTO notification_events (idempotency_key, organization_id, event_type, "
            "severity, payload, status, dispatched_at) VALUES (:k, :org, :type, 'info', "
            "CAST(:payload AS jsonb), 'delivered', now()) RETURNING id"
        ),
        {"k": f"webhook-test:{endpoint.id}:{uuid.uuid4().hex}", "org": endpoint.organization_id,
         "type": TEST_EVENT_TYPE, "payload": json.dumps(payload)},
    )  # fmt: skip
    delivery_id = await session.scalar(
        text(
            "INSERT INTO webhook_deliveries (endpoint_id, event_id, organization_id) "
            "VALUES (:e, :event, :org) RETURNING id"
        ),
        {"e": endpoint.id, "event": event_id, "org": endpoint.organization_id},
    )
    assert event_id is not None and delivery_id is not None
    await _audit(request, session, principal, "webhook.test", endpoint, None,
                 {"event_id": event_id, "delivery_id": delivery_id})  # fmt: skip
    answer = TestEventAccepted(
        event_id=int(event_id),
        delivery_id=int(delivery_id),
        workflow_id=webhook_delivery_workflow_id(int(delivery_id)),
    ).model_dump(mode="json")
    await store_response(session, idempotency, 202, answer)
    await session.commit()  # before the start, so the delivery activity finds its rows
    try:
        client = await temporal.client()
        await start_delivery(
            client, settings, delivery_id=int(delivery_id), endpoint_id=endpoint.id,
            event_id=int(event_id), organization_id=endpoint.organization_id,
        )  # fmt: skip
    except (WorkflowUnavailable, RPCError) as exc:
        logger.warning("test event for webhook %s not started: %s", endpoint.id, exc)
        await session.execute(
            text(
                "UPDATE webhook_deliveries SET status = 'failed', completed_at = now(), "
                "last_error = 'the workflow service was unavailable' WHERE id = :id"
            ),
            {"id": delivery_id},
        )
        await forget(session, idempotency)
        await session.commit()
        raise ApiError(
            503, "workflow_unavailable",
            "The workflow service is unavailable; nothing was sent. Retry in a moment.",
        ) from exc  # fmt: skip
    return JSONResponse(answer, status_code=202)
