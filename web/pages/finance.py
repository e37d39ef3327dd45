"""The finance page (`/finance`, TokenRevenueCard in the original): revenue by day, package and
kind with its chart, the summary (MRR, past due, unspent paid tokens), the invoice list, each
invoice printable and as a PDF, and the monthly reports as CSV and JSON. Every figure comes from
services/finance, as the API's finance routes; finance staff only (services.access.sees_finance).
"""

from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BeforeValidator
from sqlalchemy.ext.asyncio import AsyncSession

from api.schemas.finance import MonthlyReportOut
from db.finance import Revenue
from services.access import sees_finance
from services.finance.figures import recent_revenue, summary
from services.finance.invoice_document import InvoiceDocument, invoice_document
from services.finance.invoice_pdf import invoice_pdf
from services.finance.invoices import (
    InvoiceFilter,
    invoice_by_number,
    invoice_list,
    printable_invoice,
)
from services.finance.report_csv import report_csv
from services.finance.reports import complete_report, report_list
from web.auth import refuse, signed_in_user
from web.console_user import ConsoleUser
from web.context import ConsoleSettings, Context, DbSession
from web.templates import render

router = APIRouter()
MAX_ROW_ID = 2**31 - 1
PAGE_SIZE = 20
REPORTS_SHOWN = 12
DAY_CHOICES = (7, 30, 90, 365)
InvoiceNumber = Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
Month = Annotated[str, Path(pattern=r"^\d{4}-\d{2}$")]
Status = Literal["draft", "open", "paid", "void"]
# The filter form sends a field left empty as "": no filter on it.
BlankIsNone = BeforeValidator(lambda value: None if value == "" else value)


async def _finance_staff(
    request: Request,
    session: DbSession,
    context: Context,
    user: Annotated[ConsoleUser, Depends(signed_in_user)],
) -> ConsoleUser:
    if not sees_finance(user.user):
        raise await refuse(
            request, session, context, user,
            "This page is for finance staff: an admin, or a user of no organization with the "
            "tokens.finance permission.",
            organization_id=user.user.organization_id, permission="finance",
        )  # fmt: skip
    return user


FinanceStaff = Annotated[ConsoleUser, Depends(_finance_staff)]


def revenue_chart(revenue: Revenue) -> dict[str, Any]:
    """Revenue per UTC day of the range, one series per currency (days without sales at zero),
    as the chart script reads it from the page."""
    days = [revenue.since + timedelta(days=n) for n in range(revenue.days)]
    currencies = sorted({row.currency for row in revenue.by_day})
    amounts = {(row.date, row.currency): float(row.revenue) for row in revenue.by_day}
    return {
        "days": [day.isoformat() for day in days],
        "series": [
            {"currency": c, "revenue": [amounts.get((day, c), 0.0) for day in days]}
            for c in currencies
        ],
    }


@router.get("/finance")
async def finance_page(
    request: Request,
    session: DbSession,
    settings: ConsoleSettings,
    user: FinanceStaff,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    status: Annotated[Status | None, BlankIsNone, Query()] = None,
    organization_id: Annotated[int | None, BlankIsNone, Query(ge=1, le=MAX_ROW_ID)] = None,
    issued_from: Annotated[date | None, BlankIsNone, Query()] = None,
    issued_to: Annotated[date | None, BlankIsNone, Query()] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
) -> Response:
    revenue = await recent_revenue(session, days=days)
    wanted = InvoiceFilter(organization_id, status, issued_from, issued_to)
    invoices, total = await invoice_list(session, wanted, limit=PAGE_SIZE, offset=offset)
    reports, _ = await report_list(session, limit=REPORTS_SHOWN, offset=0)
    filters = {
        "days": days, "status": status, "organization_id": organization_id,
        "issued_from": issued_from, "issued_to": issued_to,
    }  # fmt: skip
    return render(
        request, "finance.html", user,
        {
            "revenue": revenue, "chart": revenue_chart(revenue),
            "summary": await summary(session, settings), "invoices": invoices,
            "invoice_total": total, "offset": offset, "page_size": PAGE_SIZE,
            "filters": {k: v for k, v in filters.items() if v is not None},
            "day_choices": DAY_CHOICES, "reports": reports,
        },
    )  # fmt: skip


async def _document(session: AsyncSession, invoice_number: str) -> InvoiceDocument:
    """Any organization's invoice (finance staff see every one), as the page and PDF show it."""
    invoice = await invoice_by_number(session, invoice_number)
    return invoice_document(await printable_invoice(session, invoice))


@router.get("/finance/invoices/{invoice_number}.pdf")
async def invoice_pdf_download(
    session: DbSession, user: FinanceStaff, invoice_number: InvoiceNumber
) -> Response:
    document = await _document(session, invoice_number)
    return Response(
        invoice_pdf(document),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{invoice_number}.pdf"'},
    )


@router.get("/finance/invoices/{invoice_number}")
async def invoice_page(
    request: Request, session: DbSession, user: FinanceStaff, invoice_number: InvoiceNumber
) -> Response:
    document = await _document(session, invoice_number)
    return render(request, "finance_invoice.html", user, {"document": document})


@router.get("/finance/reports/{month}.csv")
async def report_csv_download(session: DbSession, user: FinanceStaff, month: Month) -> Response:
    return Response(
        report_csv(await complete_report(session, month)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="tokenbill-report-{month}.csv"'},
    )


@router.get("/finance/reports/{month}.json")
async def report_json_download(session: DbSession, user: FinanceStaff, month: Month) -> Response:
    report = MonthlyReportOut.model_validate(
        await complete_report(session, month), from_attributes=True
    )
    return JSONResponse(
        report.model_dump(mode="json"),
        headers={"Content-Disposition": f'attachment; filename="tokenbill-report-{month}.json"'},
    )
