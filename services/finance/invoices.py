"""Reading invoices: one invoice with its lines (also as the printable copy), and the list."""

from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from db.invoices import (
    InvoiceStatus,
    IssuedInvoice,
    billed_organization_name,
    invoice_id_by_number,
    invoice_page,
    load_invoice,
)
from db.models import Invoice
from services.errors import not_found


@dataclass(frozen=True)
class InvoiceFilter:
    """Which invoices a list shows; None leaves that side open (organization None: every one)."""

    organization_id: int | None = None
    status: InvoiceStatus | None = None
    issued_from: date | None = None
    issued_to: date | None = None


@dataclass(frozen=True)
class PrintableInvoice:
    invoice: IssuedInvoice
    organization_name: str


async def invoice_by_number(session: AsyncSession, invoice_number: str) -> IssuedInvoice:
    """The invoice with its lines; the caller decides who may see it."""
    invoice_id = await invoice_id_by_number(session, invoice_number)
    if invoice_id is None:
        raise not_found("invoice_not_found", f"Invoice {invoice_number} does not exist.")
    return await load_invoice(session, invoice_id)


async def printable_invoice(session: AsyncSession, invoice: IssuedInvoice) -> PrintableInvoice:
    """The invoice with the name of the organization it is billed to."""
    return PrintableInvoice(
        invoice, await billed_organization_name(session, invoice.organization_id)
    )


async def invoice_list(
    session: AsyncSession, wanted: InvoiceFilter, *, limit: int, offset: int
) -> tuple[list[Invoice], int]:
    """A page of the invoices `wanted` names, newest first, and how many there are."""
    return await invoice_page(
        session,
        organization_id=wanted.organization_id,
        status=wanted.status,
        issued_from=wanted.issued_from,
        issued_to=wanted.issued_to,
        limit=limit,
        offset=offset,
    )
