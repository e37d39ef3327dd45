"""An organization's notifications as one list: its low-balance notifications and its outbox
events (which include the events those notifications caused), newest first."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, Text, case, cast, func, literal, select, union_all
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import LowBalanceNotification, NotificationEvent

NotificationSource = Literal["low_balance", "outbox"]


def _feed(organization_id: int) -> Select[Any]:
    """Both kinds as one list of rows with the NotificationRecord's columns, unordered."""
    low = LowBalanceNotification
    event = NotificationEvent
    critical = low.level == "critical"
    low_balance = select(
        cast(literal("low_balance"), Text).label("source"),
        low.id,
        low.wallet_id,
        case((critical, "wallet.balance_critical"), else_="wallet.balance_low").label("event_type"),
        case((critical, "critical"), else_="warning").label("severity"),
        low.status,
        func.jsonb_build_object(
            cast(literal("level"), Text), low.level,
            cast(literal("threshold"), Text), cast(func.trim_scale(low.threshold), Text),
            cast(literal("balance"), Text), cast(func.trim_scale(low.balance), Text),
            type_=JSONB,
        ).label("payload"),
        low.created_at,
        low.delivered_at.label("handled_at"),
    ).where(low.organization_id == organization_id)  # fmt: skip
    outbox = select(
        cast(literal("outbox"), Text), event.id, event.wallet_id, event.event_type,
        event.severity, event.status, event.payload, event.created_at, event.dispatched_at,
    ).where(event.organization_id == organization_id)  # fmt: skip
    feed = union_all(low_balance, outbox).subquery("feed")
    return select(*feed.c)


@dataclass(frozen=True)
class NotificationRecord:
    source: NotificationSource
    id: int
    wallet_id: int | None
    event_type: str
    severity: str
    status: str
    payload: dict[str, Any]
    created_at: datetime
    handled_at: datetime | None


async def list_notifications(
    session: AsyncSession,
    organization_id: int,
    *,
    source: NotificationSource | None = None,
    status: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[NotificationRecord], int]:
    query = _feed(organization_id)
    feed = query.selected_columns
    if source is not None:
        query = query.where(feed.source == source)
    if status is not None:
        query = query.where(feed.status == status)
    if created_from is not None:
        query = query.where(feed.created_at >= created_from)
    if created_to is not None:
        query = query.where(feed.created_at < created_to)
    total = await session.scalar(select(func.count()).select_from(query.subquery("counted")))
    rows = await session.execute(
        query.order_by(feed.created_at.desc(), feed.source, feed.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [NotificationRecord(*row) for row in rows], int(total or 0)
