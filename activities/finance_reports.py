"""generateMonthlyReports' activities: open the month's report, fill it a page of wallets at a
time, conclude it with the totals."""

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.heartbeat import heartbeating
from db.monthly_reports import (
    begin_report,
    conclude_report,
    fill_page,
    load_handle,
    parse_month,
)
from workflows.finance_job_types import (
    BEGIN_MONTHLY_REPORT,
    CONCLUDE_MONTHLY_REPORT,
    MONTHLY_REPORT_BATCH,
    BeginMonthlyReport,
)
from workflows.job_types import BatchOutcome, JobCounts, WalletBatch


class MonthlyReportActivities:
    def __init__(self, session_maker: async_sessionmaker[AsyncSession]) -> None:
        self._session_maker = session_maker

    def definitions(self) -> list[Callable[..., Any]]:
        return [self.begin, self.batch, self.conclude]

    @activity.defn(name=BEGIN_MONTHLY_REPORT)
    async def begin(self, request: BeginMonthlyReport) -> int:
        async with self._session_maker() as session, session.begin():
            report = await begin_report(
                session, month=parse_month(request.month), workflow_id=request.workflow_id
            )
        return report.id

    @activity.defn(name=MONTHLY_REPORT_BATCH)
    async def batch(self, batch: WalletBatch) -> BatchOutcome:
        """One page of wallets; a report already complete is left as it is."""
        assert batch.context_id is not None, "begin() opened the report"
        async with heartbeating(), self._session_maker() as session, session.begin():
            report = await load_handle(session, batch.context_id)
            if report.complete:
                return BatchOutcome(counts=JobCounts(), last_wallet_id=None)
            page = await fill_page(session, report, batch.after_wallet_id)
        return BatchOutcome(
            counts=JobCounts(seen=page.organizations, changed=page.organizations),
            last_wallet_id=page.last_wallet_id,
        )

    @activity.defn(name=CONCLUDE_MONTHLY_REPORT)
    async def conclude(self, report_id: int) -> None:
        async with self._session_maker() as session, session.begin():
            report = await load_handle(session, report_id)
            if not report.complete:
                await conclude_report(session, report)
