"""The stored monthly reports generateMonthlyReports writes: the list, and one complete month."""

from sqlalchemy.ext.asyncio import AsyncSession

from db.monthly_reports import StoredReport, list_reports, load_report, parse_month
from services.errors import invalid, not_found


async def report_list(
    session: AsyncSession, *, limit: int, offset: int
) -> tuple[list[StoredReport], int]:
    """A page of the reports, newest month first (without their organizations), and the count."""
    return await list_reports(session, limit=limit, offset=offset)


async def complete_report(session: AsyncSession, month: str) -> StoredReport:
    """The complete report of `month` (YYYY-MM) with its organizations."""
    try:
        first_day = parse_month(month)
    except ValueError as exc:
        raise invalid("validation_error", f"month: {exc}") from exc
    report = await load_report(session, first_day)
    if report is None or report.status != "complete":
        raise not_found(
            "report_not_found",
            f"No complete report for {month}: generateMonthlyReports writes each month's "
            "report on the 1st of the next (`tokenbill jobs run generateMonthlyReports`).",
        )
    return report
