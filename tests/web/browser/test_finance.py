"""The finance page in Chromium against the running stack: its figures equal the finance API's,
an invoice opens as a printable page and downloads as a PDF, and a buyer gets the 403 page.
Screenshots under test-artifacts/screenshots/finance-*.png."""

from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.auth.jwt_tokens import issue_token
from db import directory
from tests.e2e.test_purchase_end_to_end import buy, settled
from tests.purchase_helpers import create_package
from tests.running_stack import RunningStack
from tests.web.browser.conftest import PASSWORD, Browsing, MakeMember, NewBrowsing

Maker = async_sessionmaker[AsyncSession]


async def sign_in_at(browsing: Browsing, path: str, email: str) -> None:
    """Open `path`, which sends the browser to sign in first, and sign in back to it."""
    page = browsing.page
    await page.goto(path)
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state()


async def figure(browsing: Browsing, test_id: str) -> str:
    text: str = await browsing.page.get_by_test_id(test_id).inner_text()
    return text.strip()


async def assert_figures_equal_the_api(browsing: Browsing, api_revenue: Any, api_summary: Any):
    for row in api_revenue["totals"]:
        currency = row["currency"]
        assert await figure(browsing, f"revenue-{currency}") == f"{row['revenue']} {currency}"
        assert await figure(browsing, f"net-revenue-{currency}") == (
            f"{row['net_revenue']} {currency}"
        )
        assert await figure(browsing, f"purchases-{currency}") == str(row["purchases"])
    by_day = browsing.page.get_by_test_id("revenue-by-day").locator("tbody tr")
    assert await by_day.count() == max(1, len(api_revenue["by_day"]))
    for index, row in enumerate(api_revenue["by_day"]):
        cells = await by_day.nth(index).locator("td").all_inner_texts()
        assert cells[0] == row["date"]
        assert Decimal(cells[2]) == Decimal(row["tokens"])
        assert cells[3] == f"{row['revenue']} {row['currency']}"

    assert await figure(browsing, "active-subscriptions") == str(
        api_summary["active_subscriptions"]
    )
    for row in api_summary["monthly_recurring_revenue"]:
        currency = row["currency"]
        assert await figure(browsing, f"mrr-{currency}") == f"{row['amount']} {currency}"
    for row in api_summary["past_due"]:
        currency = row["currency"]
        shown = await figure(browsing, f"past-due-{currency}")
        assert shown.startswith(f"{row['amount']} {currency}, {row['count']} open invoice")
    for row in api_summary["unspent_paid_tokens"]:
        currency = row["currency"]
        shown = await figure(browsing, f"unspent-{currency or 'none'}")
        assert Decimal(shown.split(" ")[0]) == Decimal(row["tokens"])
        if row["value"] is not None:
            assert shown.endswith(f"worth {row['value']} {currency}")
    low = await figure(browsing, "wallets-low")
    assert int(low.split(" ")[0]) == api_summary["wallets_under_low_threshold"]


async def test_the_finance_page_equals_the_finance_api_and_its_invoice_downloads_as_a_pdf(
    running_stack: RunningStack,
    session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
    make_member: MakeMember,
    new_browsing: NewBrowsing,
    tmp_path: Path,
):
    organization = await make_organization("Clinic <b>Finance</b> & Co")
    buyer = await make_member(organization, (directory.VIEW, directory.PURCHASE))
    package = await create_package(session_maker)
    async with running_stack.client(issue_token(running_stack.settings, buyer.id)) as api:
        assert (await settled(api, await buy(api, organization, package)))["status"] == "completed"
        listed = await api.get("/api/tokens/invoices", params={"organization_id": organization})
        [invoice] = listed.json()["items"]
    number = invoice["invoice_number"]
    finance = await make_member(None, (directory.FINANCE,))

    browsing = await new_browsing()
    page = browsing.page
    await sign_in_at(browsing, "/finance", finance.email)
    assert page.url.endswith("/finance")
    async with running_stack.client(issue_token(running_stack.settings, finance.id)) as api:
        api_revenue = (await api.get("/api/tokens/finance/revenue", params={"days": 30})).json()
        api_summary = (await api.get("/api/tokens/finance/summary")).json()
    await assert_figures_equal_the_api(browsing, api_revenue, api_summary)
    assert await page.locator("#revenue-chart canvas").count() >= 1
    assert await page.get_by_role("link", name="Finance").is_visible()
    assert await browsing.accessibility_violations() == []
    await browsing.screenshot("finance")

    await page.get_by_label("Organization id").fill(str(organization))
    await page.get_by_role("button", name="Filter").click()
    await page.get_by_role("link", name=number, exact=True).wait_for()
    rows = page.get_by_test_id("invoices").locator("tbody tr")
    assert await rows.count() == 1
    assert await rows.first.locator("td").nth(5).inner_text() == f"{invoice['total']} USD"

    async with page.expect_download() as downloading:
        await page.get_by_role("link", name=f"PDF of {number}").click()
    download = await downloading.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    pdf = saved.read_bytes()
    assert download.suggested_filename == f"{number}.pdf"
    assert pdf.startswith(b"%PDF") and number.encode() in pdf

    await page.get_by_role("link", name=number, exact=True).click()
    await page.wait_for_url(f"**/finance/invoices/{number}")
    assert await page.get_by_role("heading", name=f"Invoice {number}").is_visible()
    assert await page.get_by_test_id("total").inner_text() == f"{invoice['total']} USD"
    assert await page.get_by_text("Clinic <b>Finance</b> & Co", exact=False).count() == 1
    assert await browsing.accessibility_violations() == []
    await browsing.screenshot("finance-invoice")

    narrow = await new_browsing(width=375, height=800)
    await narrow.context.add_cookies(await browsing.context.cookies())
    await narrow.page.goto("/finance")
    assert await narrow.page.locator("#revenue-chart canvas").count() >= 1
    assert await narrow.accessibility_violations() == []
    await narrow.screenshot("finance-375px")
    assert browsing.watch.console_errors == [] and narrow.watch.console_errors == []


async def test_a_buyer_gets_the_403_page_on_finance(
    make_organization: Callable[..., Awaitable[int]],
    make_member: MakeMember,
    new_browsing: NewBrowsing,
):
    buyer = await make_member(await make_organization(), (directory.VIEW, directory.PURCHASE))
    browsing = await new_browsing()
    page = browsing.page
    await sign_in_at(browsing, "/tokens", buyer.email)
    assert await page.get_by_role("link", name="Finance").count() == 0
    response = await page.goto("/finance")
    assert response is not None and response.status == 403
    assert await page.get_by_role("heading", name="Not allowed").is_visible()
    assert await page.get_by_text("finance staff").is_visible()
    assert await browsing.accessibility_violations() == []
    await browsing.screenshot("finance-forbidden")
    # Chromium reports the refused page's own 403 status as a console error; nothing else may.
    others = [e for e in browsing.watch.console_errors if "status of 403 (Forbidden)" not in e]
    assert others == []
