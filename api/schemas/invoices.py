"""Invoices issued for purchases, with their lines."""

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from api.schemas.common import Money, Rate, TokenAmount, UnitPrice


class InvoiceLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    description: str
    package_id: int | None
    token_quantity: TokenAmount
    unit_price: UnitPrice
    amount: Money


class InvoiceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    invoice_number: str
    organization_id: int
    status: str
    currency: str
    subtotal: Money
    tax_rate: Rate
    tax_amount: Money
    total: Money
    issue_date: date
    due_date: date
    paid_at: datetime | None
    purchase_reference_id: str | None
    created_at: datetime
    lines: list[InvoiceLineOut]
