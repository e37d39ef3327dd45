"""Reading invoices: one invoice with its lines (also as the printable copy), and the list."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from db.invoices import (
    InvoiceFilter,
    IssuedInvoice,
    billed_organization_name,
    invoice_id_by_number,
    invoice_page,
    load_invoice,
)
from db.models import Invoice
from services.errors import ServiceError, not_found


@dataclass(frozen=True)
class PrintableInvoice:
    invoice: IssuedInvoice
    organization_name: str


def invoice_not_found(invoice_number: str) -> ServiceError:
    return not_found("invoice_not_found", f"Invoice {invoice_number} does not exist.")


async def invoice_by_number(session: AsyncSession, invoice_number: str) -> IssuedInvoice:
    """The invoice with its lines; the caller decides who may see it."""
    invoice_id = await invoice_id_by_number(session, invoice_number)
    if invoice_id is None:
        raise invoice_not_found(invoice_number)
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
    return await invoice_page(session, wanted, limit=limit, offset=offset)
