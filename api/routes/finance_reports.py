"""Stored monthly reports (finance staff): the list, and each month as CSV or JSON."""

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.finance import FinanceStaff
from api.deps import Session
from api.errors import ApiError
from api.pagination import PageParams
from api.report_csv import report_csv
from api.schemas.common import AUTH_ERRORS, Page
from api.schemas.finance import MonthlyReportOut, MonthlyReportSummaryOut, ReportOrganizationOut
from db.monthly_reports import StoredReport, list_reports, load_report, month_label, parse_month

router = APIRouter(prefix="/finance/reports", tags=["finance"], responses=AUTH_ERRORS)
Month = Annotated[str, Path(pattern=r"^\d{4}-\d{2}$", description="The month, YYYY-MM.")]
REPORTS_PATH = "/api/tokens/finance/reports"


async def _complete_report(session: AsyncSession, month: str) -> StoredReport:
    try:
        first_day = parse_month(month)
    except ValueError as exc:
        raise ApiError(422, "validation_error", f"month: {exc}") from exc
    report = await load_report(session, first_day)
    if report is None or report.status != "complete":
        raise ApiError(
            404,
            "report_not_found",
            f"No complete report for {month}: generateMonthlyReports writes each month's "
            "report on the 1st of the next (`tokenbill jobs run generateMonthlyReports`).",
        )
    return report


@router.get(
    "",
    summary="List the monthly reports",
    description="Requires finance staff. Newest month first, with totals and download links.",
)
async def get_reports(
    principal: FinanceStaff, session: Session, page: PageParams
) -> Page[MonthlyReportSummaryOut]:
    reports, total = await list_reports(session, limit=page.limit, offset=page.offset)
    return Page[MonthlyReportSummaryOut](
        items=[
            MonthlyReportSummaryOut(
                month=month_label(r.month), status=r.status, created_at=r.created_at,
                completed_at=r.completed_at, totals=r.totals,
                csv_url=f"{REPORTS_PATH}/{month_label(r.month)}.csv",
                json_url=f"{REPORTS_PATH}/{month_label(r.month)}.json",
            )
            for r in reports
        ],
        total=total, limit=page.limit, offset=page.offset,
    )  # fmt: skip


@router.get(
    "/{month}.csv",
    summary="Download a monthly report as CSV",
    description="Requires finance staff. One row per organization and currency, then the totals.",
    response_class=Response,
)
async def get_report_csv(principal: FinanceStaff, session: Session, month: Month) -> Response:
    report = await _complete_report(session, month)
    return Response(
        report_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="tokenbill-report-{month}.csv"'},
    )


@router.get(
    "/{month}.json",
    summary="Download a monthly report as JSON",
    description="Requires finance staff. Revenue, purchases, subscriptions, consumption and "
    "expiry, per organization and in total; money per currency as decimal strings.",
)
async def get_report_json(
    principal: FinanceStaff, session: Session, month: Month
) -> MonthlyReportOut:
    report = await _complete_report(session, month)
    return MonthlyReportOut(
        month=month_label(report.month), status=report.status, created_at=report.created_at,
        completed_at=report.completed_at, totals=report.totals,
        organizations=[
            ReportOrganizationOut(organization_id=o, organization_name=n, figures=f)
            for o, n, f in report.organizations
        ],
    )  # fmt: skip
