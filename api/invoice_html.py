"""An invoice as a printable HTML page. Every value from the database is escaped."""

from html import escape

from services.finance.invoice_document import invoice_document
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
    document = invoice_document(printable)
    lines = "\n".join(
        "<tr>"
        f"<td>{_e(line.description)}</td>"
        f'<td class="n">{_e(line.tokens)}</td>'
        f'<td class="n">{_e(line.unit_price)}</td>'
        f'<td class="n">{_e(line.amount)}</td>'
        "</tr>"
        for line in document.lines
    )
    facts = "\n".join(
        f"<tr><td>{_e(label)}</td><td>{_e(value)}</td></tr>" for label, value in document.facts
    )
    totals = "\n".join(
        f'<tr><td colspan="3" class="n">{_e(label)}</td><td class="n">{_e(amount)}</td></tr>'
        for label, amount in document.totals
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{_e(document.title)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>{_e(document.title)}</h1>
<table class="meta">
{facts}
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
