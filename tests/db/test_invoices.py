"""Invoices get gapless yearly numbers, exact totals and are issued once per key."""

import asyncio
import random
import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.invoices import (
    InvoiceKeyReused,
    InvoiceLineInput,
    InvoiceNotPayable,
    IssuedInvoice,
    issue_invoice,
    mark_invoice_paid,
)

Maker = async_sessionmaker[AsyncSession]
BUSINESS_PACK = InvoiceLineInput(
    description="Business Pack", token_quantity=Decimal("500"), unit_price=Decimal("0.50")
)


def fresh_year() -> int:
    """A year no other test issues in, so its sequence is this test's alone."""
    return random.randint(3000, 9999)


async def last_number(session_maker: Maker, year: int) -> int:
    async with session_maker() as session:
        value = await session.scalar(
            text("SELECT last_number FROM invoice_number_sequences WHERE year = :y"), {"y": year}
        )
        return int(value or 0)


async def issue(
    session_maker: Maker,
    org: int,
    *,
    key: str | None = None,
    issued: date = date(2026, 3, 15),
    lines: list[InvoiceLineInput] | None = None,
    status: str = "paid",
) -> IssuedInvoice:
    async with session_maker() as session, session.begin():
        return await issue_invoice(
            session,
            idempotency_key=key or f"test:{uuid.uuid4().hex}:invoice",
            organization_id=org,
            lines=lines or [BUSINESS_PACK],
            tax_rate=Decimal("0.16"),
            currency="USD",
            issue_date=issued,
            due_days=30,
            status=status,  # type: ignore[arg-type]
        )


async def test_business_pack_invoice_carries_16_percent_tax_and_due_date(
    session_maker, make_organization
):
    org = await make_organization()
    invoice = await issue(session_maker, org, issued=date(2026, 12, 15))
    assert (invoice.subtotal, invoice.tax_amount, invoice.total) == (
        Decimal("250.00"),
        Decimal("40.00"),
        Decimal("290.00"),
    )
    assert invoice.tax_rate == Decimal("0.16")
    assert invoice.due_date == date(2027, 1, 14)
    assert invoice.status == "paid" and invoice.paid_at is not None
    assert invoice.invoice_number.startswith("TOK-2026-")
    [line] = invoice.lines
    assert (line.description, line.token_quantity, line.unit_price, line.amount) == (
        "Business Pack",
        Decimal("500"),
        Decimal("0.50"),
        Decimal("250.00"),
    )


async def test_tax_is_rounded_half_up_on_the_sum_of_rounded_lines(session_maker, make_organization):
    org = await make_organization()
    lines = [
        InvoiceLineInput("Odd pack", Decimal("7"), Decimal("1.03")),  # 7.21
        InvoiceLineInput("Thirds", Decimal("3"), Decimal("0.333333")),  # 0.999999 -> 1.00
    ]
    invoice = await issue(session_maker, org, lines=lines)
    assert [line.amount for line in invoice.lines] == [Decimal("7.21"), Decimal("1.00")]
    assert invoice.subtotal == Decimal("8.21")
    assert invoice.tax_amount == Decimal("1.31")  # 1.3136
    assert invoice.total == Decimal("9.52")


async def test_twenty_concurrent_invoices_get_unique_gapless_numbers(
    session_maker, make_organization
):
    org = await make_organization()
    year = fresh_year()
    before = await last_number(session_maker, year)
    invoices = await asyncio.gather(
        *(issue(session_maker, org, issued=date(year, 6, 1)) for _ in range(20))
    )
    expected = {f"TOK-{year}-{n:06d}" for n in range(before + 1, before + 21)}
    assert {i.invoice_number for i in invoices} == expected
    assert await last_number(session_maker, year) == before + 20


async def test_replayed_key_returns_the_same_invoice_and_consumes_no_number(
    session_maker, make_organization
):
    org = await make_organization()
    year = fresh_year()
    key = f"test:{uuid.uuid4().hex}:invoice"
    first = await issue(session_maker, org, key=key, issued=date(year, 1, 2))
    replays = await asyncio.gather(
        *(issue(session_maker, org, key=key, issued=date(year, 1, 2)) for _ in range(5))
    )
    assert {r.invoice_number for r in replays} == {first.invoice_number}
    assert all(r.replayed for r in replays) and not first.replayed
    assert await last_number(session_maker, year) == int(first.invoice_number[-6:])
    following = await issue(session_maker, org, issued=date(year, 1, 3))
    assert int(following.invoice_number[-6:]) == int(first.invoice_number[-6:]) + 1


async def test_concurrent_first_issues_with_one_key_make_one_invoice(
    session_maker, make_organization
):
    org = await make_organization()
    year = fresh_year()
    before = await last_number(session_maker, year)
    key = f"test:{uuid.uuid4().hex}:invoice"
    invoices = await asyncio.gather(
        *(issue(session_maker, org, key=key, issued=date(year, 5, 5)) for _ in range(10))
    )
    assert len({i.id for i in invoices}) == 1
    assert await last_number(session_maker, year) == before + 1


async def test_rolled_back_issue_gives_its_number_back(session_maker, make_organization):
    org = await make_organization()
    year = fresh_year()
    before = await last_number(session_maker, year)
    with pytest.raises(RuntimeError):
        async with session_maker() as session, session.begin():
            await issue_invoice(
                session,
                idempotency_key=f"test:{uuid.uuid4().hex}:invoice",
                organization_id=org,
                lines=[BUSINESS_PACK],
                tax_rate=Decimal("0.16"),
                currency="USD",
                issue_date=date(year, 2, 2),
                due_days=30,
                status="paid",
            )
            raise RuntimeError("the caller's transaction fails after issuing")
    after = await issue(session_maker, org, issued=date(year, 2, 2))
    assert after.invoice_number == f"TOK-{year}-{before + 1:06d}"


async def test_same_key_for_another_invoice_is_refused(session_maker, make_organization):
    org = await make_organization()
    key = f"test:{uuid.uuid4().hex}:invoice"
    await issue(session_maker, org, key=key)
    other_lines = [InvoiceLineInput("Starter Pack", Decimal("100"), Decimal("0.50"))]
    with pytest.raises(InvoiceKeyReused):
        await issue(session_maker, org, key=key, lines=other_lines)


async def test_open_invoice_is_marked_paid_once(session_maker, make_organization):
    org = await make_organization()
    invoice = await issue(session_maker, org, status="open")
    assert invoice.status == "open" and invoice.paid_at is None
    async with session_maker() as session, session.begin():
        paid = await mark_invoice_paid(session, invoice.id)
    async with session_maker() as session, session.begin():
        again = await mark_invoice_paid(session, invoice.id)
    assert paid.status == "paid" and paid.paid_at is not None and not paid.replayed
    assert again.paid_at == paid.paid_at and again.replayed


async def test_void_invoice_cannot_be_paid(session_maker, make_organization):
    org = await make_organization()
    invoice = await issue(session_maker, org, status="open")
    async with session_maker() as session, session.begin():
        await session.execute(
            text("UPDATE invoices SET status = 'void' WHERE id = :i"), {"i": invoice.id}
        )
    with pytest.raises(InvoiceNotPayable):
        async with session_maker() as session, session.begin():
            await mark_invoice_paid(session, invoice.id)
