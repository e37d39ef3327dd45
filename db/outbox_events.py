"""An outbox event as its channels see it: the webhook's JSON body and the log's JSON line."""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

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


async def load_event(session: AsyncSession, event_id: int) -> OutboxEvent | None:
    row = (
        await session.execute(
            text(
                "SELECT id, event_type, severity, organization_id, wallet_id, payload, created_at "
                "FROM notification_events WHERE id = :id"
            ),
            {"id": event_id},
        )
    ).one_or_none()
    if row is None:
        return None
    return OutboxEvent(
        id=row.id, event_type=row.event_type, severity=row.severity,
        organization_id=row.organization_id, wallet_id=row.wallet_id, payload=dict(row.payload),
        created_at=row.created_at,
    )  # fmt: skip
