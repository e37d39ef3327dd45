"""expireHolds' activity: release the holds past their expiry, each in a transaction of its own
(one `ledger_hold_settle` call), so one slow wallet never holds the others back."""

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from db.holds import expire_hold, holds_due
from tokenbill.settings import Settings
from workflows.hold_expiry_types import EXPIRE_DUE_HOLDS, HoldExpiryResult


class HoldExpiryActivities:
    def __init__(self, session_maker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._session_maker = session_maker
        self._settings = settings

    def definitions(self) -> list[Callable[..., Any]]:
        return [self.expire_due]

    @activity.defn(name=EXPIRE_DUE_HOLDS)
    async def expire_due(self) -> HoldExpiryResult:
        batch = self._settings.token_hold_expiry_batch_size
        seen = expired = 0
        while True:
            async with self._session_maker() as session, session.begin():
                due = await holds_due(session, batch)
            for organization_id, hold_id in due:
                async with self._session_maker() as session, session.begin():
                    expired += await expire_hold(session, organization_id, hold_id)
            seen += len(due)
            activity.heartbeat(seen)
            if len(due) < batch:
                break
        if expired:
            activity.logger.info("expired %s holds (%s due)", expired, seen)
        return HoldExpiryResult(seen=seen, expired=expired)
