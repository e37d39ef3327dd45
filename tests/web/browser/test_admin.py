"""The admin console in Chromium against the running stack: an admin lands on /admin, creates
an organization (its markup stays text) and a user, sets the user's password, runs a job, and
reads all of it in the audit log; the new user signs in and gets the 403 page on /admin.
Screenshots under test-artifacts/screenshots/admin-*.png."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import directory
from db.audit import Actor
from services.sign_in.passwords import set_password
from tests.web.browser.conftest import PASSWORD, Browsing, NewBrowsing
from workflows.operations_job_types import RECONCILE_WALLET_BALANCES_JOB

Maker = async_sessionmaker[AsyncSession]
MARKUP_NAME = 'Admin <b>Bold</b> <script src="/static/nope.js"></script> & Co'
NEW_PASSWORD = "the admin chose this password"


async def _make_admin(session_maker: Maker) -> tuple[int, str]:
    email = f"admin-{uuid.uuid4().hex[:10]}@web.test"
    async with session_maker() as session, session.begin():
        record = await directory.create_user(
            session, email=email, role="admin", actor=Actor.system("tests")
        )
        await set_password(session, email, PASSWORD, actor=Actor.system("tests"))
    return record.id, email


async def _sign_in(browsing: Browsing, email: str, password: str, lands_on: str) -> None:
    page = browsing.page
    await page.goto("/")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"**{lands_on}")


async def _clean(browsing: Browsing, screenshot: str) -> None:
    assert await browsing.accessibility_violations() == []
    await browsing.screenshot(screenshot)


async def test_an_admin_creates_an_organization_and_a_user_who_then_signs_in(
    session_maker: Maker, new_browsing: NewBrowsing
):
    admin_id, admin_email = await _make_admin(session_maker)
    browsing = await new_browsing()
    page = browsing.page
    await _sign_in(browsing, admin_email, PASSWORD, "/admin")
    await _clean(browsing, "admin-organizations-empty-form")

    await page.get_by_label("Name").fill(MARKUP_NAME)
    await page.get_by_role("button", name="Create organization").click()
    await page.get_by_role("status").wait_for()
    assert await page.get_by_role("status").inner_text() == "The organization was created."
    first = page.locator("tbody tr").first
    assert await first.locator(".org-name").inner_text() == MARKUP_NAME
    assert await page.locator(".org-name b, .org-name script").count() == 0
    organization_id = (await first.locator("td").first.inner_text()).strip()
    await _clean(browsing, "admin-organizations")

    tabs = page.get_by_role("navigation", name="Administration")
    await tabs.get_by_role("link", name="Users").click()
    await page.wait_for_url("**/admin/users")
    email = f"made-{uuid.uuid4().hex[:10]}@web.test"
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Role").select_option("user")
    await page.get_by_label("Organization", exact=True).select_option(organization_id)
    await page.get_by_label(directory.VIEW).check()
    await page.get_by_role("button", name="Create user").click()
    await page.get_by_role("heading", name=email).wait_for()
    assert await page.get_by_role("status").inner_text() == "The user was created."
    assert await page.locator("dd.org-name").inner_text() == f"{organization_id} · {MARKUP_NAME}"

    await page.get_by_label("New password").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Set password").click()
    await page.get_by_role("status").wait_for()
    assert "The password was set" in await page.get_by_role("status").inner_text()
    await _clean(browsing, "admin-user")

    await tabs.get_by_role("link", name="Jobs").click()
    await page.wait_for_url("**/admin/jobs")
    await page.get_by_role("button", name=f"Run now: {RECONCILE_WALLET_BALANCES_JOB}").click()
    await page.get_by_role("status").wait_for(timeout=45_000)
    assert await page.get_by_role("status").inner_text() == "The job was started."
    await _clean(browsing, "admin-jobs")
    await tabs.get_by_role("link", name="Reconciliation").click()
    await page.wait_for_url("**/admin/reconciliation")
    await _clean(browsing, "admin-reconciliation")

    await tabs.get_by_role("link", name="Audit log").click()
    await page.get_by_label("Actor type").select_option("user")
    await page.get_by_label("Actor id").fill(str(admin_id))
    await page.get_by_role("button", name="Search").click()
    await page.wait_for_url("**/admin/audit?*")
    actions = await page.locator("tbody tr td:nth-child(3)").all_inner_texts()
    for action in ("organization.create", "user.create", "user.password_set", "job.run_now"):
        assert action in actions, (action, actions)
    await _clean(browsing, "admin-audit")

    narrow = await new_browsing(width=375, height=800)
    await narrow.context.add_cookies(await browsing.context.cookies())
    await narrow.page.goto("/admin/users")
    await _clean(narrow, "admin-users-375px")

    member = await new_browsing()
    await _sign_in(member, email, NEW_PASSWORD, "/tokens")
    refused = await member.page.goto("/admin")
    assert refused is not None and refused.status == 403
    assert await member.page.get_by_role("heading", name="Not allowed").is_visible()
    assert await member.page.get_by_role("link", name="Admin").count() == 0
    await _clean(member, "admin-forbidden")
    assert browsing.watch.console_errors == [] and narrow.watch.console_errors == []
    # Chromium logs the refused document itself (a 403 response); nothing else may fail.
    assert member.watch.console_errors == [
        "Failed to load resource: the server responded with a status of 403 (Forbidden)"
    ]
