"""An organization's notifications feed: its low-balance notifications and outbox events."""

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from db.notification_feed import NotificationRecord, NotificationSource, list_notifications


async def notifications_feed(
    session: AsyncSession,
    organization_id: int,
    *,
    source: NotificationSource | None,
    status: str | None,
    created_from: datetime | None,
    created_to: datetime | None,
    limit: int,
    offset: int,
) -> tuple[list[NotificationRecord], int]:
    """One page of the feed, newest first, and how many match."""
    return await list_notifications(
        session, organization_id, source=source, status=status, created_from=created_from,
        created_to=created_to, limit=limit, offset=offset,
    )  # fmt: skip
