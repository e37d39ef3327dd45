"""An organization's notifications as one list: its low-balance notifications and its outbox
events (which include the events those notifications caused), newest first."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

NotificationSource = Literal["low_balance", "outbox"]

FEED_SQL = """
SELECT * FROM (
  SELECT 'low_balance' AS source, n.id, n.wallet_id,
         CASE n.level WHEN 'critical' THEN 'wallet.balance_critical'
                      ELSE 'wallet.balance_low' END AS event_type,
         CASE n.level WHEN 'critical' THEN 'critical' ELSE 'warning' END AS severity,
         n.status,
         jsonb_build_object('level', n.level, 'threshold', trim_scale(n.threshold)::text,
                            'balance', trim_scale(n.balance)::text) AS payload,
         n.created_at, n.delivered_at AS handled_at
    FROM low_balance_notifications n
   WHERE n.organization_id = :org
  UNION ALL
  SELECT 'outbox', e.id, e.wallet_id, e.event_type, e.severity, e.status, e.payload,
         e.created_at, e.dispatched_at
    FROM notification_events e
   WHERE e.organization_id = :org
) feed
WHERE (CAST(:source AS text) IS NULL OR feed.source = :source)
  AND (CAST(:status AS text) IS NULL OR feed.status = :status)
  AND (CAST(:created_from AS timestamptz) IS NULL OR feed.created_at >= :created_from)
  AND (CAST(:created_to AS timestamptz) IS NULL OR feed.created_at < :created_to)
"""


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
    params = {
        "org": organization_id, "source": source, "status": status,
        "created_from": created_from, "created_to": created_to,
    }  # fmt: skip
    total = await session.scalar(text(f"SELECT count(*) FROM ({FEED_SQL}) counted"), params)
    rows = await session.execute(
        text(FEED_SQL + " ORDER BY created_at DESC, source, id DESC LIMIT :limit OFFSET :offset"),
        {**params, "limit": limit, "offset": offset},
    )
    return [NotificationRecord(*row) for row in rows], int(total or 0)
