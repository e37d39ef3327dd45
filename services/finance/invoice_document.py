"""An invoice as its reader sees it, in text: the facts, the lines and the totals. The printable
page (API and console) and the PDF are drawn from this one document, so they always agree."""

from dataclasses import dataclass

from domain.amounts import money_text, plain_decimal, unit_price_text
from services.finance.invoices import PrintableInvoice


@dataclass(frozen=True)
class DocumentLine:
    description: str
    tokens: str
    unit_price: str
    amount: str


@dataclass(frozen=True)
class InvoiceDocument:
    invoice_number: str
    title: str
    facts: tuple[tuple[str, str], ...]
    lines: tuple[DocumentLine, ...]
    totals: tuple[tuple[str, str], ...]


def invoice_document(printable: PrintableInvoice) -> InvoiceDocument:
    """The facts (billed to, status, dates, paid, purchase), lines and totals, money with its
    currency and dates as ISO 8601 (UTC)."""
    invoice = printable.invoice
    currency = invoice.currency
    facts = [
        ("Billed to", f"{printable.organization_name} (organization {invoice.organization_id})"),
        ("Status", invoice.status),
        ("Issued", invoice.issue_date.isoformat()),
        ("Due", invoice.due_date.isoformat()),
    ]
    if invoice.paid_at:
        facts.append(("Paid", invoice.paid_at.isoformat()))
    if invoice.purchase_reference_id:
        facts.append(("Purchase", invoice.purchase_reference_id))
    tax_percent = plain_decimal(invoice.tax_rate * 100)
    return InvoiceDocument(
        invoice_number=invoice.invoice_number,
        title=f"Invoice {invoice.invoice_number}",
        facts=tuple(facts),
        lines=tuple(
            DocumentLine(
                description=line.description,
                tokens=plain_decimal(line.token_quantity),
                unit_price=unit_price_text(line.unit_price),
                amount=f"{money_text(line.amount)} {currency}",
            )
            for line in invoice.lines
        ),
        totals=(
            ("Subtotal", f"{money_text(invoice.subtotal)} {currency}"),
            (f"Tax ({tax_percent}%)", f"{money_text(invoice.tax_amount)} {currency}"),
            ("Total", f"{money_text(invoice.total)} {currency}"),
        ),
    )
