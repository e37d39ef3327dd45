"""Journeys through the console in Chromium against the running stack (API, worker, Temporal,
PostgreSQL). Each saves screenshots of its pages under test-artifacts/screenshots/."""

import re
from collections.abc import Awaitable, Callable
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.auth.jwt_tokens import issue_token
from db import directory
from tests.e2e.test_purchase_end_to_end import buy, settled
from tests.purchase_helpers import create_package
from tests.running_stack import RunningStack
from tests.web.browser.conftest import PASSWORD, Browsing, MakeMember, NewBrowsing
from web.cookies import SESSION_COOKIE

Maker = async_sessionmaker[AsyncSession]
MARKUP_NAME = 'Clinic <b>Bold</b> <script src="/static/nope.js"></script> & Co'


LANDING = re.compile(r".*/(tokens|admin)$")


async def sign_in(browsing: Browsing, email: str) -> None:
    page = browsing.page
    await page.goto("/")
    assert page.url.endswith("/sign-in")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(LANDING)  # /tokens, or /admin for an admin


async def test_a_buyer_signs_in_sees_the_wallet_and_signs_out_for_good(
    running_stack: RunningStack,
    session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
    make_member: MakeMember,
    new_browsing: NewBrowsing,
):
    organization = await make_organization(MARKUP_NAME)
    buyer = await make_member(organization, (directory.VIEW, directory.PURCHASE))
    package = await create_package(session_maker)
    async with running_stack.client(issue_token(running_stack.settings, buyer.id)) as api:
        assert (await settled(api, await buy(api, organization, package)))["status"] == "completed"

    browsing = await new_browsing()
    page = browsing.page
    await page.goto("/")
    assert await browsing.accessibility_violations() == []
    await browsing.screenshot("sign-in")
    await sign_in(browsing, buyer.email)
    assert Decimal(await page.get_by_test_id("balance").inner_text()) == Decimal(500)
    assert await page.locator(".org-name").inner_text() == MARKUP_NAME
    assert await page.locator(".org-name b, .org-name script").count() == 0
    assert await page.get_by_role("link", name="Wallet").is_visible()
    assert await page.locator("td", has_text="purchase").count() >= 1
    assert await browsing.accessibility_violations() == []
    await browsing.screenshot("wallet")

    narrow = await new_browsing(width=375, height=800)
    await narrow.context.add_cookies(await browsing.context.cookies())
    await narrow.page.goto("/tokens")
    assert await narrow.accessibility_violations() == []
    await narrow.screenshot("wallet-375px")
    await narrow.page.goto("/tokens/widget")
    assert await narrow.accessibility_violations() == []
    await narrow.screenshot("wallet-widget")

    [session_cookie] = [c for c in await browsing.context.cookies() if c["name"] == SESSION_COOKIE]
    assert session_cookie["httpOnly"] and session_cookie["sameSite"] == "Lax"
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url("**/sign-in")

    replay = await new_browsing()
    await replay.context.add_cookies([session_cookie])
    await replay.page.goto("/tokens")
    assert replay.page.url.endswith("/sign-in?next=%2Ftokens")
    assert browsing.watch.console_errors == []


async def test_a_form_post_without_its_csrf_token_is_refused_and_changes_nothing(
    make_organization: Callable[..., Awaitable[int]],
    make_member: MakeMember,
    new_browsing: NewBrowsing,
):
    member = await make_member(await make_organization())
    browsing = await new_browsing()
    await sign_in(browsing, member.email)
    refused = await browsing.context.request.post("/sign-out", form={})
    assert refused.status == 403
    assert "security token" in await refused.text()
    await browsing.page.set_content(await refused.text())
    await browsing.screenshot("csrf-refused")
    still = await browsing.page.goto("/tokens")
    assert still is not None and still.status == 200


async def test_a_user_without_the_view_permission_gets_the_403_page(
    make_organization: Callable[..., Awaitable[int]],
    make_member: MakeMember,
    new_browsing: NewBrowsing,
):
    member = await make_member(await make_organization(), (directory.CONSUME,))
    browsing = await new_browsing()
    page = browsing.page
    await page.goto("/sign-in")
    await page.get_by_label("Email").fill(member.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state()
    assert await page.get_by_role("heading", name="Not allowed").is_visible()
    assert await page.get_by_role("link", name="Wallet").count() == 0
    assert await page.get_by_role("button", name="Sign out").is_visible()
    assert await browsing.accessibility_violations() == []
    await browsing.screenshot("forbidden")


async def test_wrong_passwords_are_throttled_with_a_clear_message(
    make_organization: Callable[..., Awaitable[int]],
    make_member: MakeMember,
    new_browsing: NewBrowsing,
):
    member = await make_member(await make_organization())
    browsing = await new_browsing()
    page = browsing.page
    await page.goto("/sign-in")
    for _ in range(6):
        await page.get_by_label("Email").fill(member.email)
        await page.get_by_label("Password").fill("not the password at all")
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_load_state()
    assert await page.get_by_role("alert").inner_text() == (
        "Too many wrong passwords for this account. Sign-in to it is paused; "
        "try again in 15 minutes."
    )
    assert await browsing.accessibility_violations() == []
    await browsing.screenshot("sign-in-throttled")


async def test_the_api_docs_render_offline(new_browsing: NewBrowsing):
    browsing = await new_browsing()
    page = browsing.page
    await page.goto("/docs")
    await page.locator(".swagger-ui .info .title").wait_for()
    assert "tokenbill" in await page.locator(".swagger-ui .info .title").inner_text()
    await browsing.screenshot("docs-swagger", full_page=False)
    await page.goto("/redoc")
    await page.get_by_role("heading", name="tokenbill").first.wait_for()
    await browsing.screenshot("docs-redoc", full_page=False)
    assert browsing.watch.console_errors == []
