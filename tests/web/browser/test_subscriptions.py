"""The subscriptions page in Chromium against the running stack (second-long dunning, see
stack_environment): a subscription on a declined card shows past due with its grace end, a new
card brings it back to active, a cancellation at period end shows. Screenshots are saved under
test-artifacts/screenshots/subscriptions-*.png."""

import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import directory
from tests.purchase_helpers import create_package
from tests.web.browser.conftest import Browsing, MakeMember, NewBrowsing
from tests.web.browser.test_console_journeys import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
Maker = async_sessionmaker[AsyncSession]
UTC_MOMENT = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$")


async def axe_clean_screenshot(browsing: Browsing, name: str) -> None:
    assert await browsing.accessibility_violations() == []
    await browsing.screenshot(f"subscriptions-{name}")


async def confirm(browsing: Browsing, review: str, question: str, name: str) -> None:
    """Open a command's confirm step, check what it asks, and confirm it."""
    page = browsing.page
    await page.get_by_role("button", name=review).click()
    await page.get_by_role("heading", name="Confirm the change").wait_for()
    assert question in await page.get_by_test_id("confirm-question").inner_text()
    await axe_clean_screenshot(browsing, f"confirm-{name}")
    await page.get_by_role("button", name="Confirm").click()
    await page.wait_for_url(re.compile(r"/tokens/subscriptions/\d+\?done="))


async def test_a_declined_card_goes_past_due_and_a_new_card_brings_it_back(
    session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
    make_member: MakeMember,
    new_browsing: NewBrowsing,
) -> None:
    from playwright.async_api import expect

    organization = await make_organization()
    buyer = await make_member(organization, (directory.VIEW, directory.PURCHASE))
    package = await create_package(session_maker)
    browsing = await new_browsing()
    page: Any = browsing.page
    await sign_in(browsing, buyer.email)

    await page.get_by_role("link", name="Subscriptions").click()
    await page.wait_for_url("**/tokens/subscriptions")
    await page.get_by_label("Package").select_option(str(package))
    await page.get_by_label("Billing interval").fill("P1D")
    await page.get_by_label("Payment method").fill("pm_card_declined")
    await page.get_by_label("Grace period (optional)").fill("PT60S")
    await axe_clean_screenshot(browsing, "list-and-form")
    await page.get_by_role("button", name="Review subscription").click()
    await page.get_by_role("heading", name="Confirm the subscription").wait_for()
    await axe_clean_screenshot(browsing, "confirm-new")
    await page.get_by_role("button", name="Subscribe").click()
    await page.wait_for_url(re.compile(r"/tokens/subscriptions/\d+\?done=created"))
    detail_url = page.url.split("?")[0]

    status = page.get_by_test_id("status")
    await expect(status).to_have_text("Past due", timeout=30_000)  # the page polls (htmx)
    grace_end = await page.get_by_test_id("grace-end").inner_text()
    assert UTC_MOMENT.match(grace_end), grace_end
    assert "card_declined" in await page.get_by_test_id("past-due").inner_text()
    await axe_clean_screenshot(browsing, "past-due")

    await page.get_by_label("New payment method").fill("pm_card_ok")
    await confirm(browsing, "Review payment method", "Use the payment method pm_card_ok?",
                  "payment-method")  # fmt: skip
    await expect(status).to_have_text("Active", timeout=30_000)
    await expect(page.get_by_test_id("past-due")).to_have_count(0)
    await page.reload()  # the invoices are read with the page (only the status is polled)
    assert await page.locator("td", has_text="paid").count() == 1
    await axe_clean_screenshot(browsing, "active-again")

    await page.get_by_label("At the end of the paid period").check()
    await confirm(browsing, "Review cancellation", "Cancel at the end of the paid period?",
                  "cancel-at-period-end")  # fmt: skip
    await expect(page.get_by_test_id("cancel-at-period-end")).to_be_visible()
    assert "UTC" in await page.get_by_test_id("cancel-at-period-end").inner_text()
    await axe_clean_screenshot(browsing, "cancels-at-period-end")

    narrow = await new_browsing(width=375, height=800)
    await narrow.context.add_cookies(await browsing.context.cookies())
    await narrow.page.goto(detail_url)
    await expect(narrow.page.get_by_test_id("cancel-at-period-end")).to_be_visible()
    await axe_clean_screenshot(narrow, "detail-375px")
    await narrow.page.goto("/tokens/subscriptions")
    await axe_clean_screenshot(narrow, "list-375px")

    await confirm(browsing, "Review cancellation", "Cancel now?", "cancel-now")
    await expect(status).to_have_text("Cancelled", timeout=30_000)
    await axe_clean_screenshot(browsing, "cancelled")
    assert browsing.watch.console_errors == []
    assert narrow.watch.console_errors == []
