"""The batch step every scheduled job shares: load a page of wallets, handle each one while
heartbeating, count what was seen, changed and failed (a failing wallet does not stop the rest)."""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.heartbeat import heartbeating
from db.wallet_pages import WalletRow, wallet_page
from workflows.job_types import BatchOutcome, JobCounts, WalletBatch

logger = logging.getLogger("tokenbill.jobs")


@dataclass(frozen=True)
class WalletOutcome:
    changed: bool
    details: dict[str, int] = field(default_factory=dict)


WalletHandler = Callable[[WalletRow], Awaitable[WalletOutcome]]


async def load_page(
    session_maker: async_sessionmaker[AsyncSession], batch: WalletBatch, limit: int
) -> list[WalletRow]:
    async with session_maker() as session:
        return await wallet_page(session, after_id=batch.after_wallet_id, limit=limit)


def page_end(page: list[WalletRow]) -> int | None:
    return page[-1].id if page else None


async def handle_wallet_page(
    session_maker: async_sessionmaker[AsyncSession],
    batch: WalletBatch,
    limit: int,
    job_name: str,
    handle: WalletHandler,
) -> BatchOutcome:
    page = await load_page(session_maker, batch, limit)
    return await handle_wallets(page, job_name, handle)


async def handle_wallets(
    page: list[WalletRow], job_name: str, handle: WalletHandler
) -> BatchOutcome:
    counts = JobCounts()
    async with heartbeating():
        for wallet in page:
            try:
                outcome = await handle(wallet)
            except Exception:
                logger.exception("%s: wallet %s failed", job_name, wallet.id)
                counts = counts.plus(JobCounts(seen=1, failed=1))
                continue
            counts = counts.plus(
                JobCounts(seen=1, changed=int(outcome.changed), details=outcome.details)
            )
            if activity.in_activity():
                activity.heartbeat(wallet.id)
    return BatchOutcome(counts=counts, last_wallet_id=page_end(page))
