"""Finding accepted purchases that no workflow has picked up."""

import dataclasses
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from db.pending_purchases import stalled_pending_purchases
from tokenbill.settings import Settings
from workflows.purchase_recovery_types import FIND_STALLED_PURCHASES, StalledPurchases
from workflows.purchase_types import PurchaseInput


class PurchaseRecoveryActivities:
    def __init__(self, session_maker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._session_maker = session_maker
        self._settings = settings

    def definitions(self) -> list[Callable[..., Any]]:
        return [self.find_stalled]

    @activity.defn(name=FIND_STALLED_PURCHASES)
    async def find_stalled(self) -> StalledPurchases:
        async with self._session_maker() as session:
            pending = await stalled_pending_purchases(
                session,
                older_than=self._settings.pending_purchase_resume_after,
                limit=self._settings.pending_purchase_resume_batch,
            )
        return StalledPurchases(
            purchases=[PurchaseInput.model_validate(dataclasses.asdict(p)) for p in pending]
        )
