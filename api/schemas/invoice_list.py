"""Invoices as the list shows them (the lines are on each invoice's own page)."""

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from api.schemas.common import Money


class InvoiceFieldsOut(BaseModel):
    """An invoice's own columns, read from its row."""

    model_config = ConfigDict(from_attributes=True)

    invoice_number: str
    organization_id: int
    status: str
    currency: str
    subtotal: Money
    tax_amount: Money
    total: Money
    issue_date: date
    due_date: date
    paid_at: datetime | None
    purchase_reference_id: str | None
    subscription_id: int | None
    created_at: datetime


class InvoiceSummaryOut(InvoiceFieldsOut):
    html_url: str
