"""An invoice as a PDF (fpdf2), drawn from the same InvoiceDocument as the printable page.

The PDF's built-in Helvetica covers Latin-1; a character outside it (a name in another script)
prints as "?" rather than failing the download.
"""

from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos

from services.finance.invoice_document import InvoiceDocument

FONT = "Helvetica"
WIDTHS = (80.0, 30.0, 35.0, 35.0)  # description, tokens, unit price, amount (mm; A4 less margins)
ROW = 7.0


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def invoice_pdf(document: InvoiceDocument) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(document.title))
    pdf.set_creator("tokenbill")
    pdf.add_page()
    pdf.set_font(FONT, style="B", size=18)
    pdf.cell(text=_latin1(document.title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    pdf.set_font(FONT, size=10)
    for label, value in document.facts:
        pdf.cell(35, ROW, _latin1(label))
        pdf.multi_cell(0, ROW, _latin1(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(6)
    pdf.set_font(FONT, style="B", size=10)
    headings = ("Description", "Tokens", "Unit price", "Amount")
    for width, heading, align in zip(WIDTHS, headings, ("L", "R", "R", "R"), strict=True):
        pdf.cell(width, ROW, heading, border="B", align=Align.coerce(align))
    pdf.ln(ROW)
    pdf.set_font(FONT, size=10)
    for line in document.lines:
        cells = (line.description, line.tokens, line.unit_price, line.amount)
        for width, text, align in zip(WIDTHS, cells, ("L", "R", "R", "R"), strict=True):
            pdf.cell(width, ROW, _latin1(text), border="B", align=Align.coerce(align))
        pdf.ln(ROW)
    for index, (label, amount) in enumerate(document.totals):
        last = index == len(document.totals) - 1
        pdf.set_font(FONT, style="B" if last else "", size=10)
        pdf.cell(sum(WIDTHS[:3]), ROW, _latin1(label), align=Align.R)
        pdf.cell(WIDTHS[3], ROW, _latin1(amount), align=Align.R)
        pdf.ln(ROW)
    return bytes(pdf.output())
