"""Invoices, their lines and the yearly invoice numbering."""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import MONEY, TOKENS, UNIT_PRICE, Base, created_at_column


class Invoice(Base):
    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_number: Mapped[str] = mapped_column(String(32), nullable=False)
    idempotency_key: Mapped[str] = mapped_column(String(255), nullable=False)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    subtotal: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(6, 4), nullable=False)
    tax_amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    total: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    issue_date: Mapped[date] = mapped_column(Date, nullable=False)
    due_date: Mapped[date] = mapped_column(Date, nullable=False)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    purchase_reference_id: Mapped[str | None] = mapped_column(String(64))
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("token_subscriptions.id"))
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        CheckConstraint("status IN ('draft', 'open', 'paid', 'void')", name="ck_invoice_status"),
        Index("idx_invoices_org_issue", "organization_id", text("issue_date DESC")),
    )


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(Integer, nullable=False)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    package_id: Mapped[int | None] = mapped_column(ForeignKey("token_packages.id"))
    token_quantity: Mapped[Decimal] = mapped_column(TOKENS, nullable=False)
    unit_price: Mapped[Decimal] = mapped_column(UNIT_PRICE, nullable=False)
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)

    __table_args__ = (Index("idx_invoice_lines_invoice", "invoice_id"),)


class InvoiceNumberSequence(Base):
    """The last invoice number issued per year: incremented in the invoice's transaction."""

    __tablename__ = "invoice_number_sequences"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, nullable=False)
