"""The admin console in process: admins only, organizations, users, permissions, passwords,
the audit log, and `/` sending an admin to `/admin`."""

import re

import httpx

from db import directory
from tests.api.helpers import api_client
from tests.web.conftest import PASSWORD, MakeConsoleUser, csrf_of, sign_in
from tokenbill.settings import Settings
from worker.registry import JOB_SCHEDULES

NEW_PASSWORD = "a brand new password for the console"


async def _admin(console: httpx.AsyncClient, make_console_user: MakeConsoleUser) -> int:
    admin = await make_console_user(None, (), role="admin")
    signed_in = await sign_in(console, admin.email)
    assert signed_in.headers["location"] == "/admin"
    return admin.id


async def test_an_admin_lands_on_admin_and_others_get_the_403_page(
    console: httpx.AsyncClient, make_console_user: MakeConsoleUser, make_organization
):
    member = await make_console_user(await make_organization())
    await sign_in(console, member.email)
    for path in ("/admin", "/admin/users", "/admin/jobs", "/admin/reconciliation", "/admin/audit"):
        page = await console.get(path)
        assert page.status_code == 403, path
        assert "The administration pages are for admins." in page.text
    assert 'href="/admin"' not in page.text

    other = httpx.AsyncClient(transport=console._transport, base_url=console.base_url)
    async with other:
        await _admin(other, make_console_user)
        assert (await other.get("/")).headers["location"] == "/admin"
        page = await other.get("/admin")
        assert page.status_code == 200
        assert 'href="/admin" aria-current="page"' in page.text


async def test_an_admin_creates_an_organization_whose_markup_stays_text(
    console: httpx.AsyncClient, make_console_user: MakeConsoleUser
):
    await _admin(console, make_console_user)
    page = await console.get("/admin")
    name = "Clinic <b>Bold</b> & Co"
    created = await console.post(
        "/admin/organizations", data={"name": name, "csrf_token": csrf_of(page)}
    )
    assert (created.status_code, created.headers["location"]) == (
        303, "/admin?done=organization_created",
    )  # fmt: skip
    listed = await console.get(created.headers["location"])
    assert "The organization was created." in listed.text
    assert "Clinic &lt;b&gt;Bold&lt;/b&gt; &amp; Co" in listed.text
    assert "<b>Bold</b>" not in listed.text
    blank = await console.post(
        "/admin/organizations", data={"name": "  ", "csrf_token": csrf_of(page)}
    )
    assert blank.status_code == 422 and 'role="alert"' in blank.text
    refused = await console.post("/admin/organizations", data={"name": "No token"})
    assert refused.status_code == 403


async def test_deactivate_and_reactivate_an_organization(
    console: httpx.AsyncClient, make_console_user: MakeConsoleUser, make_organization
):
    await _admin(console, make_console_user)
    organization = await make_organization()
    token = csrf_of(await console.get("/admin"))
    off = await console.post(
        f"/admin/organizations/{organization}/deactivate", data={"csrf_token": token}
    )
    assert off.headers["location"] == "/admin?done=organization_deactivated"
    page = await console.get("/admin")
    assert f'action="/admin/organizations/{organization}/reactivate"' in page.text
    on = await console.post(
        f"/admin/organizations/{organization}/reactivate", data={"csrf_token": token}
    )
    assert on.headers["location"] == "/admin?done=organization_reactivated"
    missing = await console.post(
        "/admin/organizations/2000000000/deactivate", data={"csrf_token": token}
    )
    assert missing.status_code == 404


async def test_an_admin_creates_a_user_grants_sets_a_password_and_the_user_signs_in(
    console: httpx.AsyncClient, make_console_user: MakeConsoleUser, make_organization
):
    admin_id = await _admin(console, make_console_user)
    organization = await make_organization()
    token = csrf_of(await console.get("/admin/users"))
    email = f"made-{organization}@web.test"
    created = await console.post(
        "/admin/users",
        data={"email": email, "name": "Made Here", "role": "user",
              "organization_id": str(organization), "permissions": [directory.VIEW],
              "csrf_token": token},
    )  # fmt: skip
    assert created.status_code == 303
    location = created.headers["location"]
    found = re.fullmatch(r"/admin/users/(\d+)\?done=user_created", location)
    assert found
    user_id = int(found.group(1))
    page = await console.get(location)
    assert email in page.text and "The user was created." in page.text

    again = await console.post(
        "/admin/users",
        data={"email": email, "role": "user", "organization_id": str(organization),
              "csrf_token": token},
    )  # fmt: skip
    assert again.status_code == 409

    granted = await console.post(
        f"/admin/users/{user_id}/permissions",
        data={"permission": directory.PURCHASE, "change": "grant", "csrf_token": token},
    )
    assert granted.headers["location"].endswith("done=permission_granted")
    assert "Revoke tokens.purchase" in (await console.get(f"/admin/users/{user_id}")).text

    short = await console.post(
        f"/admin/users/{user_id}/password", data={"password": "short", "csrf_token": token}
    )
    assert short.status_code == 422
    done = await console.post(
        f"/admin/users/{user_id}/password", data={"password": NEW_PASSWORD, "csrf_token": token}
    )
    assert done.headers["location"].endswith("done=password_set")

    audit = await console.get(f"/admin/audit?actor_type=user&actor_id={admin_id}")
    for action in ("user.create", "user.permission_grant", "user.password_set"):
        assert action in audit.text, action

    other = httpx.AsyncClient(transport=console._transport, base_url=console.base_url)
    async with other:
        assert (await sign_in(other, email, PASSWORD)).status_code == 401
        signed_in = await sign_in(other, email, NEW_PASSWORD)
        assert signed_in.headers["location"] == "/tokens"


async def test_the_audit_log_filters_and_the_other_tabs_render(
    console: httpx.AsyncClient, make_console_user: MakeConsoleUser
):
    await _admin(console, make_console_user)
    assert (await console.get("/admin/audit?action=user.&outcome=&day_from=")).status_code == 200
    assert (
        await console.get("/admin/audit?day_from=2026-01-01&day_to=2026-01-01")
    ).status_code == 200
    assert (await console.get("/admin/reconciliation")).status_code == 200
    users = await console.get("/admin/users?organization_id=")
    assert users.status_code == 200
    missing = await console.get("/admin/users/2000000000")
    assert missing.status_code == 404 and "user 2000000000 does not exist" in missing.text


async def test_the_jobs_page_lists_every_job_and_refuses_an_unknown_one(
    console: httpx.AsyncClient, make_console_user: MakeConsoleUser
):
    await _admin(console, make_console_user)
    page = await console.get("/admin/jobs")
    assert page.status_code == 200
    for job in JOB_SCHEDULES:
        assert job.name in page.text
    unknown = await console.post(
        "/admin/jobs/run", data={"job_name": "noSuchJob", "csrf_token": csrf_of(page)}
    )
    assert unknown.status_code == 422
    assert "no job is named &#39;noSuchJob&#39;" in unknown.text


async def test_the_jobs_page_says_when_temporal_cannot_be_reached(
    settings: Settings, make_console_user: MakeConsoleUser
):
    async with api_client(settings.model_copy(update={"temporal_address": ""})) as console:
        await _admin(console, make_console_user)
        page = await console.get("/admin/jobs")
    assert page.status_code == 503
    assert "Temporal is not reachable" in page.text
