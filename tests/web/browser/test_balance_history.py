"""The balance history page in Chromium against the running stack: after a purchase and spends
over the API, both charts are drawn, the movements carry their reasons and references, and the
range narrows them. Screenshots: balance-history*.png under test-artifacts/screenshots/."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.auth.jwt_tokens import issue_token
from db import directory
from tests.e2e.test_purchase_end_to_end import buy, settled
from tests.purchase_helpers import create_package
from tests.running_stack import RunningStack
from tests.web.browser.conftest import PASSWORD, Browsing, MakeMember, NewBrowsing

Maker = async_sessionmaker[AsyncSession]
SPENDS = (("20", "Claim review", "claim-7781"), ("12.5", "Coverage check", "req-5521"))
# Painted pixels of the chart's canvas: uPlot draws its axes, grid and series there.
PAINTED = """(canvas) => {
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] > 0) painted += 1; }
  return painted;
}"""


async def spend(api: httpx.AsyncClient, organization_id: int, amount: str, reason: str,
                reference: str) -> None:  # fmt: skip
    answer = await api.post(
        f"/api/tokens/wallet/{organization_id}/consume",
        json={"amount": amount, "reason": reason, "reference": reference},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert answer.status_code == 201, answer.text


async def sign_in(browsing: Browsing, email: str) -> None:
    page = browsing.page
    await page.goto("/sign-in?next=%2Ftokens%2Fbalance")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/tokens/balance")


async def assert_charts_drawn(browsing: Browsing) -> None:
    for chart in ("balance-chart", "consumption-chart"):
        canvas = browsing.page.get_by_test_id(chart).locator("canvas")
        await canvas.wait_for()
        assert await canvas.evaluate(PAINTED) > 500, f"{chart} is blank"


async def test_the_balance_history_charts_and_lists_a_purchase_and_its_spends(
    running_stack: RunningStack,
    session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
    make_member: MakeMember,
    new_browsing: NewBrowsing,
):
    organization = await make_organization()
    member = await make_member(organization, (directory.VIEW, directory.PURCHASE,
                                              directory.CONSUME))  # fmt: skip
    package = await create_package(session_maker)
    async with running_stack.client(issue_token(running_stack.settings, member.id)) as api:
        reference = await buy(api, organization, package)
        assert (await settled(api, reference))["status"] == "completed"
        for amount, reason, spent_for in SPENDS:
            await spend(api, organization, amount, reason, spent_for)

    browsing = await new_browsing()
    page = browsing.page
    await sign_in(browsing, member.email)
    await assert_charts_drawn(browsing)
    rows = page.get_by_test_id("movements").locator("tbody tr")
    assert await rows.count() == 3
    for shown in (reference, "claim-7781", "Claim review", "req-5521", "Coverage check", "467.5"):
        assert await page.get_by_test_id("movements").get_by_text(shown).count() >= 1, shown
    assert await page.get_by_role("link", name="Balance history").is_visible()
    assert await browsing.accessibility_violations() == []
    await browsing.screenshot("balance-history")

    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    await page.get_by_label("From (UTC day)").fill(yesterday)
    await page.get_by_label("To (UTC day, included)").fill(yesterday)
    await page.get_by_role("button", name="Show").click()
    await page.wait_for_url(f"**/tokens/balance?from={yesterday}&to={yesterday}")
    assert await page.get_by_text("No movements in this range.").is_visible()
    assert await page.get_by_test_id("movements").count() == 0
    await assert_charts_drawn(browsing)

    narrow = await new_browsing(width=375, height=800)
    await narrow.context.add_cookies(await browsing.context.cookies())
    await narrow.page.goto("/tokens/balance")
    await assert_charts_drawn(narrow)
    width = await narrow.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways at 375 px ({width} px)"
    assert await narrow.page.get_by_test_id("movements").locator("tbody tr").count() == 3
    assert await narrow.accessibility_violations() == []
    await narrow.screenshot("balance-history-375px")
    assert browsing.watch.console_errors == [] and narrow.watch.console_errors == []
