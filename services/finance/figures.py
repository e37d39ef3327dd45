"""Finance figures: revenue over the last days, and the summary of the books."""

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from db.finance import FinanceSummary, Revenue, finance_summary, revenue
from tokenbill.settings import Settings


async def recent_revenue(session: AsyncSession, *, days: int) -> Revenue:
    """Completed purchases of the last `days` UTC days, today included."""
    return await revenue(session, days=days, today=datetime.now(UTC).date())


async def summary(session: AsyncSession, settings: Settings) -> FinanceSummary:
    """The summary, counting wallets under TOKEN_LOW_BALANCE_THRESHOLD where they set none."""
    return await finance_summary(
        session, default_low_threshold=settings.token_low_balance_threshold
    )
