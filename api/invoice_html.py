"""An invoice as a printable HTML page. Every value from the database is escaped."""

from html import escape

from domain.amounts import money_text, plain_decimal, unit_price_text
from services.finance.invoices import PrintableInvoice

STYLE = """
body { font-family: Helvetica, Arial, sans-serif; color: #222; margin: 2.5em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
table { border-collapse: collapse; width: 100%; margin-top: 1.5em; }
th, td { padding: 0.45em 0.6em; border-bottom: 1px solid #ccc; text-align: left; }
td.n, th.n { text-align: right; }
tfoot td { border-bottom: none; font-weight: bold; }
.meta td { border: none; padding: 0.15em 0.6em 0.15em 0; }
@media print { body { margin: 0; } }
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def invoice_html(printable: PrintableInvoice) -> str:
    invoice, organization_name = printable.invoice, printable.organization_name
    currency = _e(invoice.currency)
    lines = "\n".join(
        "<tr>"
        f"<td>{_e(line.description)}</td>"
        f'<td class="n">{_e(plain_decimal(line.token_quantity))}</td>'
        f'<td class="n">{_e(unit_price_text(line.unit_price))}</td>'
        f'<td class="n">{_e(money_text(line.amount))} {currency}</td>'
        "</tr>"
        for line in invoice.lines
    )
    paid = (
        f"<tr><td>Paid</td><td>{_e(invoice.paid_at.isoformat())}</td></tr>"
        if invoice.paid_at
        else ""
    )
    reference = (
        f"<tr><td>Purchase</td><td>{_e(invoice.purchase_reference_id)}</td></tr>"
        if invoice.purchase_reference_id
        else ""
    )
    tax_percent = plain_decimal(invoice.tax_rate * 100)
    totals = "\n".join(
        f'<tr><td colspan="3" class="n">{_e(label)}</td>'
        f'<td class="n">{_e(money_text(amount))} {currency}</td></tr>'
        for label, amount in (
            ("Subtotal", invoice.subtotal),
            (f"Tax ({tax_percent}%)", invoice.tax_amount),
            ("Total", invoice.total),
        )
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Invoice {_e(invoice.invoice_number)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>Invoice {_e(invoice.invoice_number)}</h1>
<table class="meta">
<tr><td>Billed to</td><td>{_e(organization_name)} (organization {invoice.organization_id})</td></tr>
<tr><td>Status</td><td>{_e(invoice.status)}</td></tr>
<tr><td>Issued</td><td>{_e(invoice.issue_date.isoformat())}</td></tr>
<tr><td>Due</td><td>{_e(invoice.due_date.isoformat())}</td></tr>
{paid}
{reference}
</table>
<table>
<thead><tr><th>Description</th><th class="n">Tokens</th><th class="n">Unit price</th>
<th class="n">Amount</th></tr></thead>
<tbody>
{lines}
</tbody>
<tfoot>
{totals}
</tfoot>
</table>
</body>
</html>
"""
