"""Stored monthly reports (finance staff): the list, and each month as CSV or JSON."""

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from api.auth.finance import FinanceStaff
from api.deps import Session
from api.pagination import PageParams
from api.schemas.common import AUTH_ERRORS, Page
from api.schemas.finance import MonthlyReportFieldsOut, MonthlyReportOut, MonthlyReportSummaryOut
from services.finance.report_csv import report_csv
from services.finance.reports import complete_report, report_list

router = APIRouter(prefix="/finance/reports", tags=["finance"], responses=AUTH_ERRORS)
Month = Annotated[str, Path(pattern=r"^\d{4}-\d{2}$", description="The month, YYYY-MM.")]
REPORTS_PATH = "/api/tokens/finance/reports"


@router.get(
    "",
    summary="List the monthly reports",
    description="Requires finance staff. Newest month first, with totals and download links.",
)
async def get_reports(
    principal: FinanceStaff, session: Session, page: PageParams
) -> Page[MonthlyReportSummaryOut]:
    reports, total = await report_list(session, limit=page.limit, offset=page.offset)
    items = []
    for report in reports:
        fields = MonthlyReportFieldsOut.model_validate(report, from_attributes=True)
        items.append(
            MonthlyReportSummaryOut(
                **dict(fields),
                csv_url=f"{REPORTS_PATH}/{fields.month}.csv",
                json_url=f"{REPORTS_PATH}/{fields.month}.json",
            )
        )
    return Page[MonthlyReportSummaryOut](
        items=items, total=total, limit=page.limit, offset=page.offset
    )


@router.get(
    "/{month}.csv",
    summary="Download a monthly report as CSV",
    description="Requires finance staff. One row per organization and currency, then the totals.",
    response_class=Response,
)
async def get_report_csv(principal: FinanceStaff, session: Session, month: Month) -> Response:
    report = await complete_report(session, month)
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
    return MonthlyReportOut.model_validate(
        await complete_report(session, month), from_attributes=True
    )
