"""The finance page in process: who may open it, its figures from services/finance, the invoice
list, each invoice's printable page and PDF, and the monthly reports as CSV and JSON."""

import random
import re
import zlib
from datetime import date

import httpx
import pytest

from db import directory
from db.monthly_reports import begin_report, conclude_report, month_label
from services.access import sees_finance
from tests.api.helpers import Maker
from tests.finance_helpers import insert_invoice
from tests.web.conftest import ConsoleUser, MakeConsoleUser, sign_in

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.DOTALL)


async def finance_user(make_console_user: MakeConsoleUser) -> ConsoleUser:
    return await make_console_user(None, (directory.FINANCE,))


def pdf_text(pdf: bytes) -> bytes:
    """The PDF's bytes with its compressed streams inflated."""
    inflated = [zlib.decompress(found) for found in STREAM.findall(pdf)]
    return pdf + b"".join(inflated)


async def test_finance_staff_see_the_figures_invoices_and_reports(
    console: httpx.AsyncClient, make_console_user: MakeConsoleUser, make_organization,
    session_maker: Maker,
):  # fmt: skip
    organization = await make_organization("Clinic <b>Bold</b> & Co")
    number = await insert_invoice(
        session_maker, organization_id=organization, total="580.00", status="open",
        description="Business <Pack>",
    )  # fmt: skip
    user = await finance_user(make_console_user)
    await sign_in(console, user.email)

    page = await console.get(f"/finance?organization_id={organization}")
    assert page.status_code == 200
    assert 'href="/finance" aria-current="page"' in page.text
    assert f'href="/finance/invoices/{number}"' in page.text
    assert f'href="/finance/invoices/{number}.pdf"' in page.text
    assert 'data-testid="active-subscriptions"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert not INLINE_SCRIPT.search(page.text)

    printable = await console.get(f"/finance/invoices/{number}")
    assert printable.status_code == 200
    assert "Clinic &lt;b&gt;Bold&lt;/b&gt; &amp; Co" in printable.text
    assert "Business &lt;Pack&gt;" in printable.text
    assert "580.00 XTS" in printable.text

    pdf = await console.get(f"/finance/invoices/{number}.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert number.encode() in pdf.content
    assert b"580.00 XTS" in pdf_text(pdf.content)
    missing = await console.get("/finance/invoices/TOK-1999-999999.pdf")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "invoice_not_found"


async def test_monthly_reports_download_as_csv_and_json(
    console: httpx.AsyncClient, make_console_user: MakeConsoleUser, session_maker: Maker
):
    month = date(random.randrange(1900, 1999), random.randrange(1, 13), 1)
    async with session_maker() as session, session.begin():
        await conclude_report(session, await begin_report(session, month=month, workflow_id="t"))
    label = month_label(month)
    await sign_in(console, (await finance_user(make_console_user)).email)

    page = await console.get("/finance")
    csv = await console.get(f"/finance/reports/{label}.csv")
    json = await console.get(f"/finance/reports/{label}.json")

    assert "Monthly reports" in page.text
    assert csv.status_code == 200 and csv.text.startswith("month,organization_id")
    assert "All organizations" in csv.text
    assert json.status_code == 200 and json.json()["month"] == label


@pytest.mark.parametrize(
    ("organization", "permissions", "user_type", "admitted"),
    [
        (False, (directory.FINANCE,), None, True),
        (False, (directory.VIEW,), "finance", True),
        (False, (directory.VIEW,), None, False),
        (True, (directory.FINANCE, directory.VIEW, directory.PURCHASE), None, False),
    ],
)
async def test_finance_staff_is_the_one_rule(
    organization: bool, permissions: tuple[str, ...], user_type: str | None, admitted: bool
):
    record = directory.UserRecord(
        id=1, email="x@web.test", name=None, role="user",
        organization_id=7 if organization else None,
        user_type=user_type, permissions=permissions, is_active=True,
    )  # fmt: skip
    assert sees_finance(record) is admitted


async def test_a_buyer_gets_the_403_page_and_no_finance_link(
    console: httpx.AsyncClient, make_console_user: MakeConsoleUser, make_organization,
    session_maker: Maker,
):  # fmt: skip
    organization = await make_organization()
    number = await insert_invoice(
        session_maker, organization_id=organization, total="5.00", status="paid"
    )
    buyer = await make_console_user(organization, (directory.VIEW, directory.PURCHASE))
    await sign_in(console, buyer.email)

    wallet = await console.get("/tokens")
    refused = [
        await console.get(path)
        for path in ("/finance", f"/finance/invoices/{number}", f"/finance/invoices/{number}.pdf")
    ]

    assert 'href="/finance"' not in wallet.text
    for response in refused:
        assert response.status_code == 403
        assert "finance staff" in response.text
        assert "%PDF" not in response.text


async def test_the_filter_form_leaves_empty_fields_unfiltered(
    console: httpx.AsyncClient, make_console_user: MakeConsoleUser, make_organization,
    session_maker: Maker,
):  # fmt: skip
    organization = await make_organization()
    paid = await insert_invoice(session_maker, organization_id=organization, total="1.00",
                                status="paid", issue_date="2026-02-01")  # fmt: skip
    open_one = await insert_invoice(session_maker, organization_id=organization, total="2.00",
                                    status="open", issue_date="2026-03-01")  # fmt: skip
    await sign_in(console, (await finance_user(make_console_user)).email)
    base = f"/finance?days=30&organization_id={organization}&issued_to="

    every = await console.get(f"{base}&status=&issued_from=")
    only_paid = await console.get(f"{base}&status=paid&issued_from=2026-01-01")

    assert every.status_code == 200 and paid in every.text and open_one in every.text
    assert paid in only_paid.text and open_one not in only_paid.text
