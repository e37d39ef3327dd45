"""Invoices (tokens.view): the list, each invoice, and its printable page. A user sees its own
organization's invoices; admins see every organization's, and finance staff the list and the
printable pages of every organization's."""

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from api.auth.dependencies import Principal, Viewer, authorize_organization, deny
from api.deps import Session
from api.invoice_html import invoice_html
from api.pagination import PageParams
from api.schemas.common import AUTH_ERRORS, MAX_ROW_ID, Page
from api.schemas.invoice_list import InvoiceFieldsOut, InvoiceSummaryOut
from api.schemas.invoices import InvoiceOut
from services.access import sees_finance
from services.finance.invoices import (
    InvoiceFilter,
    invoice_by_number,
    invoice_list,
    printable_invoice,
)

router = APIRouter(prefix="/invoices", tags=["invoices"], responses=AUTH_ERRORS)
InvoiceNumber = Annotated[
    str, Path(max_length=32, pattern=r"^[A-Za-z0-9_-]+$", description="e.g. TOK-2026-000001")
]
INVOICES_PATH = "/api/tokens/invoices"


async def _visible_organization(
    request: Request, principal: Principal, organization_id: int | None
) -> int | None:
    """The organization the list is limited to; None means every one (admins, finance staff)."""
    if sees_finance(principal.user):
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
    visible = await _visible_organization(request, principal, organization_id)
    wanted = InvoiceFilter(visible, status, issued_from, issued_to)
    invoices, total = await invoice_list(session, wanted, limit=page.limit, offset=page.offset)
    items = [
        InvoiceSummaryOut(
            **dict(InvoiceFieldsOut.model_validate(invoice, from_attributes=True)),
            html_url=f"{INVOICES_PATH}/{invoice.invoice_number}.html",
        )
        for invoice in invoices
    ]
    return Page[InvoiceSummaryOut](items=items, total=total, limit=page.limit, offset=page.offset)


# Declared before `/{invoice_number}`, which would otherwise take `TOK-2026-000001.html` whole.
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
    invoice = await invoice_by_number(session, invoice_number)
    if not sees_finance(principal.user):
        await authorize_organization(request, principal, invoice.organization_id)
    printable = await printable_invoice(session, invoice)
    return HTMLResponse(
        invoice_html(printable),
        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
    )


@router.get(
    "/{invoice_number}",
    summary="Read an invoice",
    description="Requires `tokens.view` on the invoice's organization. The invoice with its "
    "lines, subtotal, tax and total.",
)
async def get_invoice(
    request: Request, principal: Viewer, session: Session, invoice_number: InvoiceNumber
) -> InvoiceOut:
    invoice = await invoice_by_number(session, invoice_number)
    await authorize_organization(request, principal, invoice.organization_id)
    return InvoiceOut.model_validate(invoice, from_attributes=True)
