"""The outbox (notification_events): an event as its channels see it (the webhook's JSON body and
the log's JSON line), and the SQL that claims, records and finishes events."""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import LowBalanceNotification, NotificationEvent
from db.models.base import PLATFORM_ORGANIZATION_KEY

TEST_EVENT_TYPE = "webhook.test"


@dataclass(frozen=True)
class OutboxEvent:
    id: int
    event_type: str
    severity: str
    organization_id: int | None
    wallet_id: int | None
    payload: dict[str, Any]
    created_at: datetime

    def document(self) -> dict[str, Any]:
        return {
            "id": f"evt_{self.id}",
            "type": self.event_type,
            "severity": self.severity,
            "created_at": self.created_at.isoformat(),
            "organization_id": self.organization_id,
            "wallet_id": self.wallet_id,
            "data": self.payload,
        }

    def body(self) -> bytes:
        """The webhook body: compact and with sorted keys, so every attempt sends the same bytes."""
        return json.dumps(
            self.document(), sort_keys=True, separators=(",", ":"), default=str
        ).encode()

    def log_line(self) -> str:
        return json.dumps({"channel": "log", **self.document()}, sort_keys=True, default=str)


_EVENT_COLUMNS = (
    NotificationEvent.id,
    NotificationEvent.event_type,
    NotificationEvent.severity,
    NotificationEvent.organization_id,
    NotificationEvent.wallet_id,
    NotificationEvent.payload,
    NotificationEvent.created_at,
)


def _event(row: Any) -> OutboxEvent:
    return OutboxEvent(
        id=row.id, event_type=row.event_type, severity=row.severity,
        organization_id=(
            None if row.organization_id == PLATFORM_ORGANIZATION_KEY else row.organization_id
        ),
        wallet_id=row.wallet_id, payload=dict(row.payload),
        created_at=row.created_at,
    )  # fmt: skip


async def load_event(session: AsyncSession, event_id: int) -> OutboxEvent | None:
    row = (
        await session.execute(select(*_EVENT_COLUMNS).where(NotificationEvent.id == event_id))
    ).one_or_none()
    return None if row is None else _event(row)


async def claim_batch(
    session: AsyncSession, limit: int, stale_after: timedelta
) -> list[OutboxEvent]:
    """Mark up to `limit` events dispatched and return them: pending ones first, then
    dispatched ones left stale (a relay died holding them), oldest first; rows another relay
    holds are skipped."""
    events = await _claim(session, NotificationEvent.status == "pending", limit)
    if len(events) < limit:
        stale = (NotificationEvent.status == "dispatched") & (
            NotificationEvent.dispatched_at < func.now() - stale_after
        )
        events += await _claim(session, stale, limit - len(events))
    return events


async def _claim(
    session: AsyncSession, condition: ColumnElement[bool], limit: int
) -> list[OutboxEvent]:
    picked = (
        select(NotificationEvent.id)
        .where(condition)
        .order_by(NotificationEvent.created_at, NotificationEvent.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("picked")
    )
    claimed = (
        update(NotificationEvent)
        .where(NotificationEvent.id == picked.c.id)
        .values(status="dispatched", dispatched_at=func.now())
        .returning(*_EVENT_COLUMNS)
    )
    return [_event(row) for row in await session.execute(claimed)]


async def record_delivered_event(
    session: AsyncSession,
    *,
    idempotency_key: str,
    organization_id: int,
    event_type: str,
    payload: dict[str, Any],
) -> int:
    """An event recorded as already handed over, so the relay never fans it out."""
    event_id = await session.scalar(
        insert(NotificationEvent)
        .values(
            idempotency_key=idempotency_key, organization_id=organization_id,
            event_type=event_type, severity="info", payload=payload, status="delivered",
            dispatched_at=func.now(),
        )
        .returning(NotificationEvent.id)
    )  # fmt: skip
    assert event_id is not None
    return int(event_id)


async def mark_events_delivered(
    session: AsyncSession, event_ids: list[int], notification_event_types: tuple[str, ...]
) -> None:
    """Mark dispatched events delivered, and the low-balance notifications that the events of
    `notification_event_types` carry (as payload `notification_id`)."""
    await session.execute(
        update(NotificationEvent)
        .where(NotificationEvent.id.in_(event_ids), NotificationEvent.status == "dispatched")
        .values(status="delivered")
    )
    notification_id = NotificationEvent.payload["notification_id"].astext.cast(BigInteger)
    await session.execute(
        update(LowBalanceNotification)
        .where(
            NotificationEvent.id.in_(event_ids),
            NotificationEvent.event_type.in_(notification_event_types),
            LowBalanceNotification.id == notification_id,
            LowBalanceNotification.status == "pending",
        )
        .values(status="delivered", delivered_at=func.now())
    )
