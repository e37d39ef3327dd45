"""What the top-up path records beside its decisions: the audit actor and the notification events
(delivered by the relay like every other event)."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import Actor
from db.notifications import Severity, record_event

ACTOR = Actor.system("auto-topup")
TOPUP_SUCCEEDED = "auto_topup.succeeded"
TOPUP_FAILED = "auto_topup.failed"
TOPUP_CAP_REACHED = "auto_topup.cap_reached"
TOPUP_SUSPENDED = "auto_topup.suspended"


class TopupNotifier:
    """Records one wallet's top-up events, each once under its key, in the caller's transaction."""

    def __init__(self, session: AsyncSession, organization_id: int, wallet_id: int) -> None:
        self._session = session
        self._organization_id = organization_id
        self._wallet_id = wallet_id

    async def __call__(
        self, key: str, event_type: str, payload: dict[str, Any], *, severity: Severity = "info"
    ) -> None:
        await record_event(
            self._session, idempotency_key=key, event_type=event_type, payload=payload,
            organization_id=self._organization_id, wallet_id=self._wallet_id, severity=severity,
        )  # fmt: skip
