"""Invoices: gapless numbers per year, exact totals, idempotent by key.

Callers pass an AsyncSession inside an open transaction (`async with session.begin()`). The
number comes from invoice_number_sequences, incremented in that same transaction: the row lock it
takes serialises issuing for the year, and a rollback gives the number back, so no gap appears.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Invoice, InvoiceLine, InvoiceNumberSequence, Organization
from domain.pricing import to_cents

InvoiceStatus = Literal["draft", "open", "paid", "void"]
IssuableStatus = Literal["open", "paid"]
INVOICE_PREFIX = "TOK"


class InvoiceError(Exception):
    """An invoice operation was refused; nothing was written."""

    code = "invoice_error"


class InvalidInvoice(InvoiceError):
    code = "invalid_invoice"


class InvoiceKeyReused(InvoiceError):
    code = "idempotency_key_reused"

    def __init__(self, key: str) -> None:
        super().__init__(f"invoice idempotency key {key!r} was already used for another invoice")
        self.key = key


class InvoiceNotFound(InvoiceError):
    code = "invoice_not_found"


class InvoiceNotPayable(InvoiceError):
    code = "invoice_not_payable"


@dataclass(frozen=True)
class InvoiceLineInput:
    description: str
    token_quantity: Decimal
    unit_price: Decimal
    package_id: int | None = None


@dataclass(frozen=True)
class InvoiceLineView:
    description: str
    package_id: int | None
    token_quantity: Decimal
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class IssuedInvoice:
    """An invoice as stored; `replayed` says whether this call found it instead of issuing it."""

    id: int
    invoice_number: str
    organization_id: int
    status: InvoiceStatus
    currency: str
    subtotal: Decimal
    tax_rate: Decimal
    tax_amount: Decimal
    total: Decimal
    issue_date: date
    due_date: date
    paid_at: datetime | None
    purchase_reference_id: str | None
    subscription_id: int | None
    created_at: datetime
    lines: tuple[InvoiceLineView, ...]
    replayed: bool


_INVOICE_COLUMNS = (
    Invoice.id, Invoice.invoice_number, Invoice.organization_id, Invoice.status,
    Invoice.currency, Invoice.subtotal, Invoice.tax_rate, Invoice.tax_amount, Invoice.total,
    Invoice.issue_date, Invoice.due_date, Invoice.paid_at, Invoice.purchase_reference_id,
    Invoice.subscription_id, Invoice.created_at,
)  # fmt: skip
_LINE_COLUMNS = (
    InvoiceLine.description, InvoiceLine.package_id, InvoiceLine.token_quantity,
    InvoiceLine.unit_price, InvoiceLine.amount,
)  # fmt: skip


def format_invoice_number(year: int, number: int) -> str:
    return f"{INVOICE_PREFIX}-{year}-{number:06d}"


def line_amount(line: InvoiceLineInput) -> Decimal:
    return to_cents(line.token_quantity * line.unit_price)


async def issue_invoice(
    session: AsyncSession,
    *,
    idempotency_key: str,
    organization_id: int,
    lines: list[InvoiceLineInput],
    tax_rate: Decimal,
    currency: str,
    issue_date: date,
    due_days: int,
    status: IssuableStatus,
    purchase_reference_id: str | None = None,
    subscription_id: int | None = None,
) -> IssuedInvoice:
    """Issue the invoice under the next number of its year; a replayed key returns the first."""
    _validate(lines, tax_rate, currency, due_days)
    subtotal = sum((line_amount(line) for line in lines), Decimal("0"))
    tax_amount = to_cents(subtotal * tax_rate)
    total = subtotal + tax_amount
    found = await _find_by_key(session, organization_id, idempotency_key)
    if found is not None:
        return await _replay(session, idempotency_key, found, organization_id, total, currency)
    # A concurrent call with this key may commit while this one waits for the year's number:
    # the savepoint then gives the number back and the stored invoice is returned instead.
    savepoint = await session.begin_nested()
    number = await _next_number(session, issue_date.year)
    invoice_id = await session.scalar(
        insert(Invoice)
        .values(
            invoice_number=format_invoice_number(issue_date.year, number),
            idempotency_key=idempotency_key, organization_id=organization_id, status=status,
            currency=currency.upper(), subtotal=subtotal, tax_rate=tax_rate,
            tax_amount=tax_amount, total=total, issue_date=issue_date,
            due_date=issue_date + timedelta(days=due_days),
            paid_at=func.now() if status == "paid" else None,
            purchase_reference_id=purchase_reference_id, subscription_id=subscription_id,
        )
        .on_conflict_do_nothing(
            index_elements=[Invoice.organization_id, Invoice.idempotency_key]
        )
        .returning(Invoice.id)
    )  # fmt: skip
    if invoice_id is None:
        await savepoint.rollback()
        raced = await _find_by_key(session, organization_id, idempotency_key)
        assert raced is not None
        return await _replay(session, idempotency_key, raced, organization_id, total, currency)
    await savepoint.commit()
    await session.execute(
        insert(InvoiceLine),
        [
            {
                "organization_id": organization_id, "invoice_id": invoice_id,
                "description": line.description,
                "package_id": line.package_id, "token_quantity": line.token_quantity,
                "unit_price": line.unit_price, "amount": line_amount(line),
            }
            for line in lines
        ],
    )  # fmt: skip
    return await load_invoice(session, invoice_id, replayed=False, organization_id=organization_id)


async def _next_number(session: AsyncSession, year: int) -> int:
    """The year's next number: the row lock of this upsert serialises issuing for the year."""
    upsert = insert(InvoiceNumberSequence).values(year=year, last_number=1)
    number = await session.scalar(
        upsert.on_conflict_do_update(
            index_elements=[InvoiceNumberSequence.year],
            set_={"last_number": InvoiceNumberSequence.last_number + 1},
        ).returning(InvoiceNumberSequence.last_number)
    )
    assert number is not None
    return int(number)


async def mark_invoice_paid(
    session: AsyncSession,
    invoice_id: int,
    *,
    paid_at: datetime | None = None,
    organization_id: int | None = None,
) -> IssuedInvoice:
    """Move an open invoice to paid; an invoice already paid is returned as it is."""
    same_organization = _in_organization(organization_id)
    changed = await session.scalar(
        update(Invoice)
        .where(Invoice.id == invoice_id, *same_organization, Invoice.status == "open")
        .values(status="paid", paid_at=func.now() if paid_at is None else paid_at)
        .returning(Invoice.id)
    )
    invoice = await load_invoice(
        session, invoice_id, replayed=changed is None, organization_id=organization_id
    )
    if invoice.status != "paid":
        raise InvoiceNotPayable(f"invoice {invoice.invoice_number} is {invoice.status}")
    return invoice


def _in_organization(organization_id: int | None) -> list[ColumnElement[bool]]:
    return [] if organization_id is None else [Invoice.organization_id == organization_id]


async def load_invoice(
    session: AsyncSession,
    invoice_id: int,
    *,
    replayed: bool = True,
    organization_id: int | None = None,
) -> IssuedInvoice:
    """The invoice and its lines; with its organisation, read from its own shard only when the
    tables are distributed (docs/distributed-schema.md)."""
    same_organization = _in_organization(organization_id)
    row = (
        await session.execute(
            select(*_INVOICE_COLUMNS).where(Invoice.id == invoice_id, *same_organization)
        )
    ).one_or_none()
    if row is None:
        raise InvoiceNotFound(f"invoice {invoice_id} does not exist")
    lines = await session.execute(
        select(*_LINE_COLUMNS)
        .where(
            InvoiceLine.organization_id == row.organization_id,
            InvoiceLine.invoice_id == invoice_id,
        )
        .order_by(InvoiceLine.id)
    )
    return IssuedInvoice(
        **row._asdict(),
        lines=tuple(InvoiceLineView(**line._asdict()) for line in lines),
        replayed=replayed,
    )


async def invoice_id_by_number(session: AsyncSession, invoice_number: str) -> int | None:
    return await session.scalar(select(Invoice.id).where(Invoice.invoice_number == invoice_number))


async def billed_organization_name(session: AsyncSession, organization_id: int) -> str:
    name = await session.scalar(select(Organization.name).where(Organization.id == organization_id))
    return name or ""


async def invoice_page(
    session: AsyncSession,
    *,
    organization_id: int | None,
    status: InvoiceStatus | None,
    issued_from: date | None,
    issued_to: date | None,
    limit: int,
    offset: int,
) -> tuple[list[Invoice], int]:
    """The invoices matching every filter given (None: not filtered), newest first (issue date,
    then id), one page, and how many match."""
    query = select(Invoice)
    if organization_id is not None:
        query = query.where(Invoice.organization_id == organization_id)
    if status is not None:
        query = query.where(Invoice.status == status)
    if issued_from is not None:
        query = query.where(Invoice.issue_date >= issued_from)
    if issued_to is not None:
        query = query.where(Invoice.issue_date <= issued_to)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(Invoice.issue_date.desc(), Invoice.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), int(total or 0)


async def _find_by_key(session: AsyncSession, organization_id: int, key: str) -> int | None:
    return await session.scalar(
        select(Invoice.id).where(
            Invoice.organization_id == organization_id, Invoice.idempotency_key == key
        )
    )


async def _replay(
    session: AsyncSession,
    key: str,
    invoice_id: int,
    organization_id: int,
    total: Decimal,
    currency: str,
) -> IssuedInvoice:
    """The stored invoice, if the replay asks for the same one."""
    invoice = await load_invoice(
        session, invoice_id, replayed=True, organization_id=organization_id
    )
    asked: tuple[Any, ...] = (organization_id, total, currency.upper())
    if (invoice.organization_id, invoice.total, invoice.currency) != asked:
        raise InvoiceKeyReused(key)
    return invoice


def _validate(
    lines: list[InvoiceLineInput], tax_rate: Decimal, currency: str, due_days: int
) -> None:
    if not lines:
        raise InvalidInvoice("an invoice has at least one line")
    for line in lines:
        if line.token_quantity <= 0 or line.unit_price <= 0:
            raise InvalidInvoice("invoice lines have a positive quantity and unit price")
    if not Decimal("0") <= tax_rate < Decimal("1"):
        raise InvalidInvoice("a tax rate is between 0 and 1")
    if len(currency) != 3 or not currency.isalpha():
        raise InvalidInvoice("a currency is a 3-letter ISO 4217 code")
    if due_days < 0:
        raise InvalidInvoice("due days are zero or more")
