"""Recording notification events in the outbox, in the caller's transaction."""

import json
import logging
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

Severity = Literal["info", "warning", "critical"]
logger = logging.getLogger("tokenbill.notifications")


async def record_event(
    session: AsyncSession,
    *,
    idempotency_key: str,
    event_type: str,
    payload: dict[str, Any],
    organization_id: int | None = None,
    wallet_id: int | None = None,
    severity: Severity = "info",
) -> int | None:
    """Insert the event once per key; returns its id, or None when the key was already recorded."""
    event_id = await session.scalar(
        text(
            "INSERT INTO notification_events (idempotency_key, organization_id, wallet_id, "
            "event_type, severity, payload) VALUES (:k, :org, :w, :type, :sev, "
            "CAST(:payload AS jsonb)) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
        ),
        {
            "k": idempotency_key, "org": organization_id, "w": wallet_id, "type": event_type,
            "sev": severity, "payload": json.dumps(payload, default=str, sort_keys=True),
        },
    )  # fmt: skip
    if event_id is not None:
        logger.info(
            "notification recorded",
            extra={"event_type": event_type, "organization_id": organization_id,
                   "event_id": event_id, "severity": severity},
        )  # fmt: skip
    return None if event_id is None else int(event_id)
