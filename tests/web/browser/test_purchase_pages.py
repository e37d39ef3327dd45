"""Journeys through the purchase pages in Chromium against the running stack: a buyer buys the
Business Pack and follows it to its invoice, a viewer is kept out, the history lists the
purchase and exports it. Screenshots go to test-artifacts/screenshots/purchase-*.png."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import directory
from db.models import TokenPurchase
from tests.purchase_helpers import create_package
from tests.web.browser.conftest import Browsing, MakeMember, NewBrowsing
from tests.web.browser.test_console_journeys import sign_in

Maker = async_sessionmaker[AsyncSession]
SETTLE_MS = 60_000


async def _purchases_of(session_maker: Maker, organization_id: int) -> int:
    async with session_maker() as session:
        count = await session.scalar(
            select(func.count()).where(TokenPurchase.organization_id == organization_id)
        )
    return int(count or 0)


async def _balance(browsing: Browsing) -> Decimal:
    await browsing.page.goto("/tokens")
    return Decimal(await browsing.page.get_by_test_id("balance").inner_text())


async def test_a_buyer_buys_the_business_pack_and_opens_its_invoice(
    session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
    make_member: MakeMember,
    new_browsing: NewBrowsing,
):
    organization = await make_organization()
    buyer = await make_member(organization, (directory.VIEW, directory.PURCHASE))
    package = await create_package(session_maker)
    browsing = await new_browsing()
    page = browsing.page
    await sign_in(browsing, buyer.email)
    before = await _balance(browsing)

    await page.get_by_role("link", name="Buy tokens").click()
    await page.wait_for_url("**/tokens/purchase")
    await page.locator(f'input[name="package_id"][value="{package}"]').check()
    assert await browsing.accessibility_violations() == []
    await browsing.screenshot("purchase-form")
    await page.get_by_role("button", name="Review the purchase").click()
    await page.wait_for_url("**/tokens/purchase/review*")
    assert await page.get_by_test_id("review-tokens").inner_text() == "500"
    assert await page.get_by_test_id("review-total").inner_text() == "290.00 USD"
    assert await browsing.accessibility_violations() == []
    await browsing.screenshot("purchase-review")

    confirm = page.get_by_role("button", name="Confirm and pay 290.00 USD")
    await confirm.dblclick()
    await page.wait_for_url("**/tokens/purchase/TKP-*")
    reference = page.url.rsplit("/", 1)[1]
    assert await _purchases_of(session_maker, organization) == 1  # the double click bought once
    status = page.get_by_test_id("purchase-status")
    await page.get_by_test_id("invoice-link").wait_for(timeout=SETTLE_MS)
    assert await status.inner_text() == "completed"
    assert await browsing.accessibility_violations() == []
    await browsing.screenshot("purchase-status")

    pdf_link = await page.get_by_test_id("invoice-pdf-link").get_attribute("href")
    assert pdf_link is not None
    pdf = await page.request.get(pdf_link)
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    assert (await pdf.body()).startswith(b"%PDF")
    assert pdf_link.rsplit("/", 1)[1] in pdf.headers["content-disposition"]

    await page.get_by_test_id("invoice-link").click()
    await page.wait_for_url("**/tokens/invoices/*")
    text = await page.locator("body").inner_text()
    assert "Tax (16%)" in text and "290.00 USD" in text and reference in text
    issued = date.fromisoformat(_cell_after(text, "Issued"))
    assert date.fromisoformat(_cell_after(text, "Due")) == issued + timedelta(days=30)
    await browsing.screenshot("purchase-invoice")

    assert await _balance(browsing) == before + 500

    narrow = await new_browsing(width=375, height=800)
    await narrow.context.add_cookies(await browsing.context.cookies())
    await narrow.page.goto("/tokens/purchase")
    assert await narrow.accessibility_violations() == []
    await narrow.screenshot("purchase-form-375px")
    assert browsing.watch.console_errors == [] and narrow.watch.console_errors == []


def _cell_after(text: str, label: str) -> str:
    line = next(line for line in text.splitlines() if line.startswith(label))
    return line.removeprefix(label).strip()


async def test_a_viewer_sees_no_buy_button_and_gets_the_403_page(
    make_organization: Callable[..., Awaitable[int]],
    make_member: MakeMember,
    new_browsing: NewBrowsing,
):
    viewer = await make_member(await make_organization())
    browsing = await new_browsing()
    page = browsing.page
    await sign_in(browsing, viewer.email)
    assert await page.get_by_role("link", name="Buy tokens").count() == 0
    await page.goto("/tokens/history")
    assert await page.get_by_role("link", name="Buy tokens").count() == 0
    answer = await page.goto("/tokens/purchase")
    assert answer is not None and answer.status == 403
    assert await page.get_by_role("heading", name="Not allowed").is_visible()
    assert await page.get_by_text("This page needs the tokens.purchase permission.").is_visible()
    assert await browsing.accessibility_violations() == []
    await browsing.screenshot("purchase-forbidden")


async def test_the_history_lists_the_purchase_and_exports_it_as_csv(
    session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
    make_member: MakeMember,
    new_browsing: NewBrowsing,
):
    organization = await make_organization()
    buyer = await make_member(organization, (directory.VIEW, directory.PURCHASE))
    package = await create_package(session_maker)
    browsing = await new_browsing()
    page = browsing.page
    await sign_in(browsing, buyer.email)
    await page.goto("/tokens/purchase")
    await page.locator(f'input[name="package_id"][value="{package}"]').check()
    await page.get_by_label("Quantity (packs, 1 to 100)").fill("2")
    await page.get_by_role("button", name="Review the purchase").click()
    await page.get_by_role("button", name="Confirm and pay 580.00 USD").click()
    await page.wait_for_url("**/tokens/purchase/TKP-*")
    reference = page.url.rsplit("/", 1)[1]
    await page.get_by_test_id("invoice-link").wait_for(timeout=SETTLE_MS)

    await page.get_by_role("link", name="Purchase history").first.click()
    await page.wait_for_url("**/tokens/history")
    row = page.locator("tr", has_text=reference)
    assert await row.count() == 1
    assert "580.00 USD" in await row.inner_text()
    assert await row.locator('a[href^="/tokens/invoices/"]').count() == 1
    await page.get_by_label("Status").select_option("completed")
    await page.get_by_role("button", name="Filter").click()
    await page.wait_for_url("**/tokens/history?*status=completed*")
    assert await page.locator("tr", has_text=reference).count() == 1
    assert await browsing.accessibility_violations() == []
    await browsing.screenshot("purchase-history")

    async with page.expect_download() as waiting:
        await page.get_by_test_id("csv-export").click()
    download = await waiting.value
    exported = await asyncio.to_thread(Path(await download.path()).read_text)
    assert exported.startswith("purchase_reference_id,")
    assert f"{reference},{organization},one_time,completed,1000," in exported
    assert browsing.watch.console_errors == []


async def test_a_declined_card_shows_the_purchase_failed_without_an_invoice(
    session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
    make_member: MakeMember,
    new_browsing: NewBrowsing,
):
    organization = await make_organization()
    buyer = await make_member(organization, (directory.VIEW, directory.PURCHASE))
    package = await create_package(session_maker)
    browsing = await new_browsing(width=375, height=800)
    page = browsing.page
    await sign_in(browsing, buyer.email)
    await page.goto("/tokens/purchase")
    await page.locator(f'input[name="package_id"][value="{package}"]').check()
    await page.get_by_label("Payment method").select_option("pm_card_declined")
    await page.get_by_role("button", name="Review the purchase").click()
    await page.get_by_role("button", name="Confirm and pay 290.00 USD").click()
    await page.wait_for_url("**/tokens/purchase/TKP-*")
    status = page.get_by_test_id("purchase-status")
    await page.get_by_text("Why it failed").wait_for(timeout=SETTLE_MS)
    assert await status.inner_text() == "failed"
    assert await page.get_by_test_id("invoice-link").count() == 0
    assert await browsing.accessibility_violations() == []
    await browsing.screenshot("purchase-failed-375px")
    assert browsing.watch.console_errors == []
