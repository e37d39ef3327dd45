"""The settings page in Chromium against the running stack: a configure user sets thresholds and
an automatic top-up policy; a spend over the API (with an API key) below the threshold shows the
low-balance notification and the automatic top-up on the pages."""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import api_keys, directory
from db.audit import Actor
from services.sign_in.passwords import set_password
from tests.notification_helpers import create_endpoint, funded_wallet
from tests.purchase_helpers import create_package
from tests.running_stack import RunningStack
from tests.web.browser.conftest import PASSWORD, Browsing, MakeMember, NewBrowsing
from tests.web.browser.test_console_journeys import sign_in

Maker = async_sessionmaker[AsyncSession]
TOP_UP_WAIT_SECONDS = 120


async def _api_key(session_maker: Maker, organization_id: int) -> str:
    async with session_maker() as session, session.begin():
        _, secret = await api_keys.create_api_key(
            session, name="Claims robot", scopes=("tokens.consume",),
            organization_id=organization_id, actor=Actor.system("tests"),
        )  # fmt: skip
    return secret


async def _until_shown(browsing: Browsing, path: str, shown: Callable[[], Awaitable[bool]]) -> None:
    """Reload the page until it shows what the journey waits for (the top-up is asynchronous)."""
    deadline = time.monotonic() + TOP_UP_WAIT_SECONDS
    while True:
        await browsing.page.goto(path)
        if await shown():
            return
        assert time.monotonic() < deadline, f"{path} never showed the automatic top-up"
        await asyncio.sleep(2)


async def test_a_configure_user_sets_a_policy_and_a_spend_shows_the_alert_and_the_top_up(
    running_stack: RunningStack,
    session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
    make_member: MakeMember,
    new_browsing: NewBrowsing,
):
    organization = await make_organization("Settings Clinic")
    package = await create_package(session_maker)
    await funded_wallet(session_maker, organization, "400")
    configurer = await make_member(
        organization, (directory.VIEW, directory.CONFIGURE, directory.PURCHASE)
    )
    browsing = await new_browsing()
    page = browsing.page
    await sign_in(browsing, configurer.email)
    await page.get_by_role("link", name="Settings").click()
    await page.wait_for_url("**/tokens/settings")
    assert await browsing.accessibility_violations() == []

    await page.get_by_label("Low threshold").fill("300")
    await page.get_by_label("Critical threshold").fill("100")
    await page.get_by_role("button", name="Save thresholds").click()
    await page.get_by_role("heading", name="Thresholds saved.").wait_for()

    await page.get_by_label("Top up when the balance falls below").fill("250")
    await page.get_by_label("Package", exact=True).select_option(str(package))
    await page.get_by_role("button", name="Save the policy").click()
    await page.get_by_role("heading", name="Automatic top-up policy saved.").wait_for()
    assert await page.get_by_test_id("policy-status").inner_text() == "active"
    assert await browsing.accessibility_violations() == []
    await browsing.screenshot("settings-policy-set")

    endpoint_id, first_secret = await create_endpoint(
        session_maker, organization, "http://127.0.0.1:9/hook", ("webhook.test",),
        settings=running_stack.settings,
    )  # fmt: skip
    await page.reload()
    await page.get_by_role("button", name=f"Rotate the secret of endpoint {endpoint_id}").click()
    shown = await page.get_by_test_id("secret").input_value()
    assert shown.startswith("whsec_") and shown != first_secret
    await browsing.screenshot("settings-secret-shown-once")
    await page.get_by_role("button", name=f"Send a test event to endpoint {endpoint_id}").click()
    await page.get_by_role("heading", name="Test event sent").wait_for()
    assert await page.locator("article.endpoint td", has_text="webhook.test").count() == 1
    await page.reload()
    assert shown not in await page.content()
    assert await browsing.accessibility_violations() == []

    secret = await _api_key(session_maker, organization)
    async with running_stack.client(secret) as api:
        spent = await api.post(
            f"/api/tokens/wallet/{organization}/consume",
            json={"amount": "200", "reason": "claim review"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
    assert spent.status_code == 201, spent.text

    await _until_shown(browsing, "/tokens/settings", lambda: _topped_up(browsing))
    feed = page.get_by_test_id("notifications")
    assert await feed.locator("td", has_text="wallet.balance_low").count() >= 1
    assert await browsing.accessibility_violations() == []
    await browsing.screenshot("settings-after-top-up")

    await page.goto("/tokens")
    assert Decimal(await page.get_by_test_id("balance").inner_text()) == Decimal(700)
    assert await page.locator("td", has_text="Automatic top-up").count() == 1
    assert await browsing.accessibility_violations() == []
    await browsing.screenshot("settings-wallet-after-top-up")

    narrow = await new_browsing(width=375, height=800)
    await narrow.context.add_cookies(await browsing.context.cookies())
    await narrow.page.goto("/tokens/settings")
    assert await narrow.accessibility_violations() == []
    await narrow.screenshot("settings-375px")
    assert browsing.watch.console_errors == [] and narrow.watch.console_errors == []


async def _topped_up(browsing: Browsing) -> bool:
    """The policy says when it last topped up, and the feed has the top-up's event."""
    last: str = await browsing.page.get_by_test_id("last-topup").inner_text()
    feed = browsing.page.get_by_test_id("notifications")
    succeeded: int = await feed.locator("td", has_text="auto_topup.succeeded").count()
    return last.endswith("UTC") and succeeded == 1


async def test_a_viewer_gets_the_403_page_on_settings(
    make_organization: Callable[..., Awaitable[int]],
    make_member: MakeMember,
    new_browsing: NewBrowsing,
):
    viewer = await make_member(await make_organization())
    browsing = await new_browsing()
    await sign_in(browsing, viewer.email)
    assert await browsing.page.get_by_role("link", name="Settings").count() == 0
    await browsing.page.goto("/tokens/settings")
    assert await browsing.page.get_by_role("heading", name="Not allowed").is_visible()
    assert await browsing.accessibility_violations() == []
    await browsing.screenshot("settings-forbidden")


async def test_an_admin_creates_an_organizations_api_key_seen_once_and_revokes_it(
    session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
    new_browsing: NewBrowsing,
):
    organization = await make_organization("Keys Clinic")
    email = f"browser-admin-{uuid.uuid4().hex[:10]}@web.test"
    async with session_maker() as session, session.begin():
        await directory.create_user(
            session, email=email, role="admin", organization_id=None, permissions=(),
            actor=Actor.system("tests"),
        )  # fmt: skip
        await set_password(session, email, PASSWORD, actor=Actor.system("tests"))
    browsing = await new_browsing()
    page = browsing.page
    await sign_in(browsing, email)
    await page.goto("/tokens/settings")
    await page.get_by_label("Organization id").fill(str(organization))
    await page.get_by_role("button", name="Show").click()
    await page.get_by_label("Name").fill("Claims robot")
    await page.get_by_role("button", name="Create the key").click()
    shown = await page.get_by_test_id("secret").input_value()
    assert shown.startswith("tbk_")
    assert await browsing.accessibility_violations() == []
    await browsing.screenshot("settings-api-key-shown-once")
    await page.get_by_role("button", name="Revoke the key Claims robot").click()
    await page.get_by_role("heading", name="revoked").wait_for()
    assert shown not in await page.content()
    assert await page.get_by_test_id("api-keys").locator("td", has_text="revoked").count() == 1
    assert browsing.watch.console_errors == []


async def test_a_configure_user_sets_a_spend_limit_and_sees_it_with_its_reset(
    make_organization: Callable[..., Awaitable[int]],
    make_member: MakeMember,
    new_browsing: NewBrowsing,
):
    configurer = await make_member(
        await make_organization("Limits Clinic"), (directory.VIEW, directory.CONFIGURE)
    )
    browsing = await new_browsing()
    page = browsing.page
    await sign_in(browsing, configurer.email)
    await page.goto("/tokens/settings")
    await page.get_by_label("Period").select_option("month")
    await page.get_by_label("Cap (tokens)").fill("1500")
    await page.get_by_label("Kind").select_option("soft")
    await page.get_by_role("button", name="Save the limit").click()
    await page.get_by_role("heading", name="Spend limit saved.").wait_for()
    row = page.get_by_test_id("spend-limits").locator("tbody tr")
    assert await row.count() == 1
    cells = await row.locator("td").all_inner_texts()
    assert cells[:5] == ["the organization", "UTC month", "1500", "soft", "0"]
    assert cells[5].endswith("UTC")
    assert await browsing.accessibility_violations() == []
    await browsing.screenshot("settings-spend-limit")
    await page.get_by_role("button", name="Remove the month limit of the organization").click()
    await page.get_by_role("heading", name="Spend limit removed.").wait_for()
    assert await page.get_by_text("No spend limits.").is_visible()
