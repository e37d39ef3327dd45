"""updateUsageForecasts: a forecast row per wallet for today, from its consumption history."""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text
from temporalio.client import Client

from tests.jobs.conftest import Maker, credit, run_job, spend
from workflows.operations_job_types import UPDATE_USAGE_FORECASTS_WORKFLOW


async def backdate(owner: Maker, transaction_ids: list[int], days_ago: list[int]) -> None:
    """Move spends into the past (history is append-only: only a superuser with triggers off)."""
    now = datetime.now(UTC)
    async with owner() as session, session.begin():
        await session.execute(text("SET LOCAL session_replication_role = replica"))
        for tx, days in zip(transaction_ids, days_ago, strict=True):
            await session.execute(
                text("UPDATE ledger_transactions SET created_at = :at WHERE id = :id"),
                {"at": now - timedelta(days=days), "id": tx},
            )


async def test_forecast_job_stores_todays_forecast_from_the_history(
    temporal_client: Client,
    jobs_queue: str,
    session_maker: Maker,
    owner_session_maker: Maker,
    make_organization: Callable[[], Awaitable[int]],
) -> None:
    org = await make_organization()
    wallet, _ = await credit(session_maker, org, "1000")
    spends = [await spend(session_maker, wallet, "25") for _ in range(10)]
    await backdate(owner_session_maker, spends, list(range(1, 11)))

    result = await run_job(
        temporal_client, jobs_queue, UPDATE_USAGE_FORECASTS_WORKFLOW,
        history="update-usage-forecasts",
    )  # fmt: skip

    async with session_maker() as session:
        row = (
            await session.execute(
                text(
                    "SELECT forecast_date, average_daily_consumption, current_balance, "
                    "history_days, days_remaining, projected_depletion_date, confidence "
                    "FROM token_usage_forecasts WHERE wallet_id = :w"
                ),
                {"w": wallet},
            )
        ).one()
    today = datetime.now(UTC).date()
    assert row.forecast_date == today
    assert row.average_daily_consumption == Decimal(25)
    assert row.current_balance == Decimal(750)
    assert row.history_days == 10
    assert row.days_remaining == 30
    assert row.projected_depletion_date == today + timedelta(days=29)
    assert Decimal(0) < row.confidence < Decimal(1)
    assert result.counts.changed >= 1
    assert result.counts.failed == 0
