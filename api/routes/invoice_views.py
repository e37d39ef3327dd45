"""The invoice list and the printable invoice page (tokens.view; a user sees its own
organization's invoices, admins and finance staff every organization's)."""

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select

from api.auth.dependencies import Principal, Viewer, authorize_organization, deny
from api.auth.finance import is_finance_staff
from api.deps import Session
from api.errors import ApiError
from api.invoice_html import invoice_html
from api.pagination import PageParams
from api.schemas.common import AUTH_ERRORS, MAX_ROW_ID, Page
from api.schemas.invoice_list import InvoiceSummaryOut
from db.invoices import load_invoice
from db.models import Invoice, Organization

router = APIRouter(prefix="/invoices", tags=["invoices"], responses=AUTH_ERRORS)
InvoiceNumber = Annotated[
    str, Path(max_length=32, pattern=r"^[A-Za-z0-9_-]+$", description="e.g. TOK-2026-000001")
]
INVOICES_PATH = "/api/tokens/invoices"


async def _visible_organization(
    request: Request, principal: Principal, organization_id: int | None
) -> int | None:
    """The organization the list is limited to; None means every one (admins, finance staff)."""
    if is_finance_staff(principal):
        return organization_id
    if principal.organization_id is None:
        await deny(request, principal, "You belong to no organization, so you see no invoices.")
    if organization_id is not None:
        await authorize_organization(request, principal, organization_id)
    return principal.organization_id


@router.get(
    "",
    summary="List invoices",
    description="Requires `tokens.view`. A user sees its own organization's invoices (asking for "
    "another organization is refused, 403); admins and finance staff see every organization's "
    "and may filter by `organization_id`. Filter by `status` and by issue date (`issued_from` "
    "inclusive, `issued_to` inclusive). Newest first.",
)
async def list_invoices(
    request: Request,
    principal: Viewer,
    session: Session,
    page: PageParams,
    organization_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    status: Annotated[Literal["draft", "open", "paid", "void"] | None, Query()] = None,
    issued_from: Annotated[date | None, Query()] = None,
    issued_to: Annotated[date | None, Query()] = None,
) -> Page[InvoiceSummaryOut]:
    organization = await _visible_organization(request, principal, organization_id)
    query = select(Invoice)
    if organization is not None:
        query = query.where(Invoice.organization_id == organization)
    if status is not None:
        query = query.where(Invoice.status == status)
    if issued_from is not None:
        query = query.where(Invoice.issue_date >= issued_from)
    if issued_to is not None:
        query = query.where(Invoice.issue_date <= issued_to)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(Invoice.issue_date.desc(), Invoice.id.desc())
        .limit(page.limit)
        .offset(page.offset)
    )
    return Page[InvoiceSummaryOut](
        items=[
            InvoiceSummaryOut(
                invoice_number=i.invoice_number, organization_id=i.organization_id,
                status=i.status, currency=i.currency, subtotal=i.subtotal,
                tax_amount=i.tax_amount, total=i.total, issue_date=i.issue_date,
                due_date=i.due_date, paid_at=i.paid_at,
                purchase_reference_id=i.purchase_reference_id, subscription_id=i.subscription_id,
                created_at=i.created_at, html_url=f"{INVOICES_PATH}/{i.invoice_number}.html",
            )
            for i in rows
        ],
        total=int(total or 0), limit=page.limit, offset=page.offset,
    )  # fmt: skip


@router.get(
    "/{invoice_number}.html",
    summary="Print an invoice",
    description="Requires `tokens.view` on the invoice's organization (finance staff: any). "
    "The invoice as a printable HTML page.",
    response_class=HTMLResponse,
)
async def get_invoice_html(
    request: Request, principal: Viewer, session: Session, invoice_number: InvoiceNumber
) -> HTMLResponse:
    invoice_id = await session.scalar(
        select(Invoice.id).where(Invoice.invoice_number == invoice_number)
    )
    if invoice_id is None:
        raise ApiError(404, "invoice_not_found", f"Invoice {invoice_number} does not exist.")
    invoice = await load_invoice(session, invoice_id)
    if not is_finance_staff(principal):
        await authorize_organization(request, principal, invoice.organization_id)
    name = await session.scalar(
        select(Organization.name).where(Organization.id == invoice.organization_id)
    )
    return HTMLResponse(
        invoice_html(invoice, name or ""),
        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
    )
