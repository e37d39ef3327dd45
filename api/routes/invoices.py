"""Invoices (tokens.view, own organization)."""

from typing import Annotated

from fastapi import APIRouter, Path, Request
from sqlalchemy import select

from api.auth.dependencies import Viewer, authorize_organization
from api.deps import Session
from api.errors import ApiError
from api.schemas.common import AUTH_ERRORS
from api.schemas.invoices import InvoiceLineOut, InvoiceOut
from db.models import Invoice, InvoiceLine

router = APIRouter(prefix="/invoices", tags=["invoices"], responses=AUTH_ERRORS)
InvoiceNumber = Annotated[
    str, Path(max_length=32, pattern=r"^[A-Za-z0-9_-]+$", description="e.g. TOK-2026-000001")
]


@router.get(
    "/{invoice_number}",
    summary="Read an invoice",
    description="Requires `tokens.view` on the invoice's organization. The invoice with its "
    "lines, subtotal, tax and total.",
)
async def get_invoice(
    request: Request, principal: Viewer, session: Session, invoice_number: InvoiceNumber
) -> InvoiceOut:
    invoice = await session.scalar(select(Invoice).where(Invoice.invoice_number == invoice_number))
    if invoice is None:
        raise ApiError(404, "invoice_not_found", f"Invoice {invoice_number} does not exist.")
    await authorize_organization(request, principal, invoice.organization_id)
    lines = await session.scalars(
        select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id).order_by(InvoiceLine.id)
    )
    return InvoiceOut(
        invoice_number=invoice.invoice_number, organization_id=invoice.organization_id,
        status=invoice.status, currency=invoice.currency, subtotal=invoice.subtotal,
        tax_rate=invoice.tax_rate, tax_amount=invoice.tax_amount, total=invoice.total,
        issue_date=invoice.issue_date, due_date=invoice.due_date, paid_at=invoice.paid_at,
        purchase_reference_id=invoice.purchase_reference_id, created_at=invoice.created_at,
        lines=[
            InvoiceLineOut(
                description=line.description, package_id=line.package_id,
                token_quantity=line.token_quantity, unit_price=line.unit_price,
                amount=line.amount,
            )
            for line in lines
        ],
    )  # fmt: skip
