"""Recording notification events in the outbox, in the caller's transaction."""

import json
import logging
from typing import Any, Literal

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import NotificationEvent
from db.models.base import PLATFORM_ORGANIZATION_KEY

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
    # Amounts, dates and the like are stored as their text, as json.dumps(default=str) writes them.
    stored = json.loads(json.dumps(payload, default=str))
    event_id = await session.scalar(
        insert(NotificationEvent)
        .values(
            idempotency_key=idempotency_key,
            organization_id=(
                PLATFORM_ORGANIZATION_KEY if organization_id is None else organization_id
            ),
            wallet_id=wallet_id, event_type=event_type, severity=severity, payload=stored,
        )
        .on_conflict_do_nothing(
            index_elements=[NotificationEvent.organization_id, NotificationEvent.idempotency_key]
        )
        .returning(NotificationEvent.id)
    )  # fmt: skip
    if event_id is not None:
        logger.info(
            "notification recorded",
            extra={"event_type": event_type, "organization_id": organization_id,
                   "event_id": event_id, "severity": severity},
        )  # fmt: skip
    return None if event_id is None else int(event_id)
