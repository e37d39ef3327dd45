"""Finding accepted purchases that no workflow has picked up, a page at a time."""

import dataclasses
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.heartbeat import heartbeating
from db.pending_purchases import stalled_pending_purchases
from tokenbill.settings import Settings
from workflows.job_types import JobCounts, WalletBatch
from workflows.purchase_recovery_types import FIND_STALLED_PURCHASES, StalledPurchases
from workflows.purchase_types import PurchaseInput


class PurchaseRecoveryActivities:
    def __init__(self, session_maker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._session_maker = session_maker
        self._settings = settings

    def definitions(self) -> list[Callable[..., Any]]:
        return [self.find_stalled]

    @activity.defn(name=FIND_STALLED_PURCHASES)
    async def find_stalled(self, batch: WalletBatch) -> StalledPurchases:
        """The page of stalled purchases after the cursor; the workflow starts them."""
        async with heartbeating(), self._session_maker() as session:
            stalled = await stalled_pending_purchases(
                session,
                older_than=self._settings.pending_purchase_resume_after,
                after_id=batch.after_wallet_id,
                limit=self._settings.pending_purchase_resume_batch,
            )
        return StalledPurchases(
            counts=JobCounts(seen=len(stalled)),
            last_wallet_id=stalled[-1][0] if stalled else None,
            purchases=[
                PurchaseInput.model_validate(dataclasses.asdict(purchase))
                for _, purchase in stalled
            ],
        )
