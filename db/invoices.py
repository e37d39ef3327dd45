"""Invoices: gapless numbers per year, exact totals, idempotent by key.

Callers pass an AsyncSession inside an open transaction (`async with session.begin()`). The
number comes from invoice_number_sequences, incremented in that same transaction: the row lock it
takes serialises issuing for the year, and a rollback gives the number back, so no gap appears.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

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
    lines: tuple[InvoiceLineView, ...]
    replayed: bool


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
    found = await _find_by_key(session, idempotency_key)
    if found is not None:
        return await _replay(session, idempotency_key, found, organization_id, total, currency)
    # A concurrent call with this key may commit while this one waits for the year's number:
    # the savepoint then gives the number back and the stored invoice is returned instead.
    savepoint = await session.begin_nested()
    number = await session.scalar(
        text(
            "INSERT INTO invoice_number_sequences (year, last_number) VALUES (:y, 1) "
            "ON CONFLICT (year) DO UPDATE "
            "SET last_number = invoice_number_sequences.last_number + 1 RETURNING last_number"
        ),
        {"y": issue_date.year},
    )
    assert number is not None
    invoice_id = await session.scalar(
        text(
            "INSERT INTO invoices (invoice_number, idempotency_key, organization_id, status, "
            "currency, subtotal, tax_rate, tax_amount, total, issue_date, due_date, paid_at, "
            "purchase_reference_id, subscription_id) VALUES (:number, :k, :org, :status, :cur, "
            ":subtotal, :rate, :tax, :total, :issued, :due, "
            "CASE WHEN CAST(:paid AS boolean) THEN now() END, :ref, :sub) "
            "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
        ),
        {
            "number": format_invoice_number(issue_date.year, int(number)),
            "k": idempotency_key, "org": organization_id, "status": status,
            "cur": currency.upper(), "subtotal": subtotal, "rate": tax_rate, "tax": tax_amount,
            "total": total, "issued": issue_date, "due": issue_date + timedelta(days=due_days),
            "ref": purchase_reference_id, "sub": subscription_id, "paid": status == "paid",
        },
    )  # fmt: skip
    if invoice_id is None:
        await savepoint.rollback()
        raced = await _find_by_key(session, idempotency_key)
        assert raced is not None
        return await _replay(session, idempotency_key, raced, organization_id, total, currency)
    await savepoint.commit()
    for line in lines:
        await session.execute(
            text(
                "INSERT INTO invoice_lines (invoice_id, description, package_id, "
                "token_quantity, unit_price, amount) VALUES (:i, :d, :p, :q, :u, :a)"
            ),
            {
                "i": invoice_id, "d": line.description, "p": line.package_id,
                "q": line.token_quantity, "u": line.unit_price, "a": line_amount(line),
            },
        )  # fmt: skip
    return await load_invoice(session, int(invoice_id), replayed=False)


async def mark_invoice_paid(
    session: AsyncSession, invoice_id: int, *, paid_at: datetime | None = None
) -> IssuedInvoice:
    """Move an open invoice to paid; an invoice already paid is returned as it is."""
    changed = await session.scalar(
        text(
            "UPDATE invoices SET status = 'paid', paid_at = coalesce(:at, now()) "
            "WHERE id = :i AND status = 'open' RETURNING id"
        ),
        {"i": invoice_id, "at": paid_at},
    )
    invoice = await load_invoice(session, invoice_id, replayed=changed is None)
    if invoice.status != "paid":
        raise InvoiceNotPayable(f"invoice {invoice.invoice_number} is {invoice.status}")
    return invoice


async def load_invoice(
    session: AsyncSession, invoice_id: int, *, replayed: bool = True
) -> IssuedInvoice:
    row = (
        await session.execute(
            text(
                "SELECT id, invoice_number, organization_id, status, currency, subtotal, "
                "tax_rate, tax_amount, total, issue_date, due_date, paid_at, "
                "purchase_reference_id, subscription_id FROM invoices WHERE id = :i"
            ),
            {"i": invoice_id},
        )
    ).one_or_none()
    if row is None:
        raise InvoiceNotFound(f"invoice {invoice_id} does not exist")
    lines = (
        await session.execute(
            text(
                "SELECT description, package_id, token_quantity, unit_price, amount "
                "FROM invoice_lines WHERE invoice_id = :i ORDER BY id"
            ),
            {"i": invoice_id},
        )
    ).all()
    return IssuedInvoice(
        **row._asdict(),
        lines=tuple(InvoiceLineView(**line._asdict()) for line in lines),
        replayed=replayed,
    )


async def _find_by_key(session: AsyncSession, key: str) -> int | None:
    found = await session.scalar(
        text("SELECT id FROM invoices WHERE idempotency_key = :k"), {"k": key}
    )
    return None if found is None else int(found)


async def _replay(
    session: AsyncSession,
    key: str,
    invoice_id: int,
    organization_id: int,
    total: Decimal,
    currency: str,
) -> IssuedInvoice:
    """The stored invoice, if the replay asks for the same one."""
    invoice = await load_invoice(session, invoice_id, replayed=True)
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
