"""spend_limit_usage rows are swept by cleanupOldAuditLogs once older than
SPEND_LIMIT_USAGE_RETENTION, but never a limit's current or previous period."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.worker import Worker

from activities.audit_retention import AuditRetentionActivities
from activities.job_runs import JobRunActivities
from db.spend_limit_retention import delete_old_spend_limit_usage
from tests.jobs.conftest import Maker, run_job
from tokenbill.settings import Settings
from workflows.audit_retention import CleanupOldAuditLogsWorkflow
from workflows.finance_job_types import CLEANUP_OLD_AUDIT_LOGS_WORKFLOW


def _utc(text_: str) -> datetime:
    return datetime.fromisoformat(text_).replace(tzinfo=UTC)


async def _limits_with_usage(
    session_maker: Maker, org: int, usage: dict[str, list[datetime]]
) -> None:
    """A limit per period (`day`, `month`) with a usage row at each period start given."""
    async with session_maker() as session, session.begin():
        for period, starts in usage.items():
            limit_id = await session.scalar(
                text(
                    "INSERT INTO spend_limits (organization_id, period, cap, mode)"
                    " VALUES (:o, :p, 100, 'hard') RETURNING id"
                ),
                {"o": org, "p": period},
            )
            for start in starts:
                await session.execute(
                    text(
                        "INSERT INTO spend_limit_usage (organization_id, limit_id, period_start,"
                        " used) VALUES (:o, :l, :s, 1)"
                    ),
                    {"o": org, "l": limit_id, "s": start},
                )


async def _usage_left(session_maker: Maker, org: int) -> set[tuple[str, datetime]]:
    async with session_maker() as session:
        found = await session.execute(
            text(
                "SELECT l.period, u.period_start FROM spend_limit_usage u JOIN spend_limits l"
                " ON l.organization_id = u.organization_id AND l.id = u.limit_id"
                " WHERE u.organization_id = :o"
            ),
            {"o": org},
        )
        return {(r.period, r.period_start) for r in found}


async def test_usage_past_the_retention_goes_but_the_current_and_previous_period_stay(
    engine: AsyncEngine, session_maker: Maker, make_organization: Callable[..., Awaitable[int]]
) -> None:
    org = await make_organization()
    # Anchored on 1 March of a leap year: the previous month is February (29 days), the
    # previous day is 29 February. Anchors in the past: the sweep is global, and other tests'
    # rows (of today's periods) are younger than any cutoff here.
    now = _utc("2024-03-01T00:30:00")
    day = [_utc("2024-03-01"), _utc("2024-02-29"), _utc("2024-02-28")]
    month = [_utc("2024-03-01"), _utc("2024-02-01"), _utc("2024-01-01")]
    await _limits_with_usage(session_maker, org, {"day": day, "month": month})

    async with engine.begin() as connection:
        # A retention shorter than a period: each limit keeps its current and previous period.
        short = await delete_old_spend_limit_usage(
            connection, now=now, retention=timedelta(minutes=1)
        )
    after_short = await _usage_left(session_maker, org)
    async with engine.begin() as connection:
        again = await delete_old_spend_limit_usage(
            connection, now=now, retention=timedelta(minutes=1)
        )

    assert short >= 2 and again == 0  # other tests' old rows may go too; ours are two
    assert after_short == {
        ("day", day[0]), ("day", day[1]), ("month", month[0]), ("month", month[1]),
    }  # fmt: skip
    assert await _usage_left(session_maker, org) == after_short


async def test_the_retention_keeps_rows_younger_than_it(
    engine: AsyncEngine, session_maker: Maker, make_organization: Callable[..., Awaitable[int]]
) -> None:
    org = await make_organization()
    now = _utc("2023-12-31T23:59:00")
    day = [_utc("2023-12-31"), _utc("2023-12-01"), _utc("2023-09-01")]
    await _limits_with_usage(session_maker, org, {"day": day})

    async with engine.begin() as connection:
        await delete_old_spend_limit_usage(connection, now=now, retention=timedelta(days=90))

    # 1 December is within 90 days; 1 September is not.
    assert await _usage_left(session_maker, org) == {("day", day[0]), ("day", day[1])}


async def test_the_retention_job_sweeps_old_spend_limit_usage(
    temporal_client: Client,
    settings: Settings,
    session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
) -> None:
    org = await make_organization()
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    old = today - settings.spend_limit_usage_retention - timedelta(days=2)
    await _limits_with_usage(session_maker, org, {"day": [today, today - timedelta(days=1), old]})
    queue = f"usage-retention-{uuid.uuid4().hex}"
    async with Worker(
        temporal_client,
        task_queue=queue,
        workflows=[CleanupOldAuditLogsWorkflow],
        activities=[
            *JobRunActivities(session_maker).definitions(),
            *AuditRetentionActivities(settings).definitions(),
        ],
    ):
        result = await run_job(temporal_client, queue, CLEANUP_OLD_AUDIT_LOGS_WORKFLOW)

    assert await _usage_left(session_maker, org) == {
        ("day", today), ("day", today - timedelta(days=1)),
    }  # fmt: skip
    assert result.counts.details["spend_limit_usage_deleted"] >= 1
