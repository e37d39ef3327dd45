"""The SQL of webhook endpoints, their deliveries and the delivery log (the attempts)."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Row,
    Subquery,
    Text,
    and_,
    case,
    exists,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import NotificationEvent, WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint


@dataclass(frozen=True)
class DeliveryRecord:
    """A delivery with its event's type and every attempt made, oldest first."""

    id: int
    event_id: int
    event_type: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    completed_at: datetime | None
    attempt_log: list[WebhookDeliveryAttempt] = field(default_factory=list)


async def _count(session: AsyncSession, rows: Subquery) -> int:
    return int(await session.scalar(select(func.count()).select_from(rows)) or 0)


async def list_endpoints(
    session: AsyncSession,
    organization_id: int | None,
    *,
    all_organizations: bool,
    limit: int,
    offset: int,
) -> tuple[list[WebhookEndpoint], int]:
    """One organization's endpoints (or every one's with `all_organizations` and no id), by id,
    and how many there are."""
    query = select(WebhookEndpoint)
    if organization_id is not None:
        query = query.where(WebhookEndpoint.organization_id == organization_id)
    elif not all_organizations:
        query = query.where(false())
    rows = await session.scalars(query.order_by(WebhookEndpoint.id).limit(limit).offset(offset))
    return list(rows), await _count(session, query.subquery())


async def list_deliveries(
    session: AsyncSession, endpoint_id: int, status: str | None, *, limit: int, offset: int
) -> tuple[list[DeliveryRecord], int]:
    """An endpoint's deliveries, newest first, and how many there are."""
    query = (
        select(WebhookDelivery, NotificationEvent.event_type)
        .join(
            NotificationEvent,
            (NotificationEvent.organization_id == WebhookDelivery.organization_id)
            & (NotificationEvent.id == WebhookDelivery.event_id),
        )
        .where(WebhookDelivery.endpoint_id == endpoint_id)
    )
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    total = await _count(session, query.subquery())
    page = await session.execute(
        query.order_by(WebhookDelivery.id.desc()).limit(limit).offset(offset)
    )
    records = [
        DeliveryRecord(
            id=delivery.id, event_id=delivery.event_id, event_type=event_type,
            status=delivery.status, attempts=delivery.attempts,
            last_status_code=delivery.last_status_code, last_error=delivery.last_error,
            created_at=delivery.created_at, completed_at=delivery.completed_at,
        )
        for delivery, event_type in page
    ]  # fmt: skip
    by_id = {record.id: record for record in records}
    for attempt in await session.scalars(
        select(WebhookDeliveryAttempt)
        .where(WebhookDeliveryAttempt.delivery_id.in_(list(by_id)))
        .order_by(WebhookDeliveryAttempt.id)
    ):
        by_id[attempt.delivery_id].attempt_log.append(attempt)
    return records, total


async def add_delivery(
    session: AsyncSession, *, endpoint_id: int, event_id: int, organization_id: int
) -> int:
    delivery_id = await session.scalar(
        insert(WebhookDelivery)
        .values(endpoint_id=endpoint_id, event_id=event_id, organization_id=organization_id)
        .returning(WebhookDelivery.id)
    )
    assert delivery_id is not None
    return int(delivery_id)


async def plan_deliveries(
    session: AsyncSession, *, event_id: int, organization_id: int, event_type: str
) -> None:
    """A pending delivery of the event to each of the organization's active endpoints that takes
    it; a pair planned before is left as it is."""
    pattern = func.unnest(WebhookEndpoint.event_types).table_valued("pattern").render_derived("f")
    event_type_value = literal(event_type, Text)
    # An endpoint takes an event when its filter is empty, names the type, or is a `prefix.*`.
    named = exists(
        select(1)
        .select_from(pattern)
        .where(
            or_(
                pattern.c.pattern == event_type_value,
                and_(
                    func.right(pattern.c.pattern, 1) == "*",
                    func.starts_with(event_type_value, func.left(pattern.c.pattern, -1)),
                ),
            )
        )
    )
    takers = select(
        WebhookEndpoint.id, literal(event_id, BigInteger), WebhookEndpoint.organization_id
    ).where(
        WebhookEndpoint.organization_id == organization_id,
        WebhookEndpoint.is_active,
        or_(func.cardinality(WebhookEndpoint.event_types) == 0, named),
    )
    await session.execute(
        pg_insert(WebhookDelivery)
        .from_select(["endpoint_id", "event_id", "organization_id"], takers)
        .on_conflict_do_nothing(index_elements=["organization_id", "endpoint_id", "event_id"])
    )


async def pending_deliveries(session: AsyncSession, event_id: int) -> Sequence[Row[int, int, int]]:
    """The event's deliveries still to be made: (id, endpoint_id, organization_id), by id."""
    rows = await session.execute(
        select(WebhookDelivery.id, WebhookDelivery.endpoint_id, WebhookDelivery.organization_id)
        .where(WebhookDelivery.event_id == event_id, WebhookDelivery.status == "pending")
        .order_by(WebhookDelivery.id)
    )
    return rows.all()


async def delivery_target(session: AsyncSession, delivery_id: int) -> Row[Any] | None:
    """The delivery's endpoint (url, secret_ciphertext, is_active, and the
    previous_secret_ciphertext while its overlap lasts) and its attempts and last_status_code."""
    previous_secret = case(
        (
            WebhookEndpoint.previous_secret_expires_at > func.now(),
            WebhookEndpoint.previous_secret_ciphertext,
        )
    )
    row = await session.execute(
        select(
            WebhookEndpoint.url, WebhookEndpoint.secret_ciphertext, WebhookEndpoint.is_active,
            WebhookDelivery.attempts, WebhookDelivery.last_status_code,
            previous_secret.label("previous_secret_ciphertext"),
        )
        .select_from(WebhookDelivery)
        .join(
            WebhookEndpoint,
            (WebhookEndpoint.organization_id == WebhookDelivery.organization_id)
            & (WebhookEndpoint.id == WebhookDelivery.endpoint_id),
        )
        .where(WebhookDelivery.id == delivery_id)
    )  # fmt: skip
    return row.one_or_none()


async def log_attempt(
    session: AsyncSession,
    delivery_id: int,
    *,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
) -> int:
    """Count and log one POST made; the number made so far, this one included."""
    counted = (
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(
                attempts=WebhookDelivery.attempts + 1,
                last_status_code=status_code,
                last_error=error,
            )
            .returning(WebhookDelivery.attempts, WebhookDelivery.organization_id)
        )
    ).one()
    made, organization_id = int(counted.attempts), int(counted.organization_id)
    await session.execute(
        insert(WebhookDeliveryAttempt).values(
            organization_id=organization_id, delivery_id=delivery_id, attempt=made,
            status_code=status_code, error=error, duration_ms=duration_ms,
        )
    )  # fmt: skip
    return made


async def finish_delivery(
    session: AsyncSession, delivery_id: int, status: str, error: str | None
) -> None:
    """Record a pending delivery's outcome (an error, when given, replaces the last one)."""
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending")
        .values(
            status=status,
            completed_at=func.now(),
            last_error=func.coalesce(literal(error, Text), WebhookDelivery.last_error),
        )
    )


async def fail_delivery(session: AsyncSession, delivery_id: int, error: str) -> None:
    """Record a delivery as failed whatever its state (its workflow never started)."""
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .values(status="failed", completed_at=func.now(), last_error=error)
    )
