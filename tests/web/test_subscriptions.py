"""The subscriptions pages in process, with a worker running the workflows on the Temporal dev
server: create through the confirm step (once per key), the detail, a command, permissions."""

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from temporalio.client import Client

from db import directory
from tests.api.helpers import Maker, api_client, count_rows
from tests.purchase_helpers import create_package
from tests.web.conftest import MakeConsoleUser, csrf_of, sign_in
from tokenbill.settings import Settings
from worker.main import build_worker

MakeOrganization = Callable[..., Awaitable[int]]
PAGE = "/tokens/subscriptions"
_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')
BUYER = (directory.VIEW, directory.PURCHASE)


@pytest.fixture
async def console(
    settings: Settings, temporal_client: Client, session_maker: Maker
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with an in-process worker on a task queue of its own (overrides the plain one)."""
    queue = f"subscription-web-{uuid.uuid4().hex}"
    app_settings = settings.model_copy(update={"temporal_task_queue": queue})
    async with (
        build_worker(temporal_client, app_settings, session_maker, task_queue=queue),
        api_client(app_settings) as client,
    ):
        yield client


def form_of(page: httpx.Response) -> dict[str, str]:
    """The hidden fields of a confirm page's form."""
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    assert _KEY.search(page.text) and fields.get("csrf_token")
    return fields


async def subscribe(client: httpx.AsyncClient, package_id: int, **extra: str) -> httpx.Response:
    confirm = await client.get(
        f"{PAGE}/new",
        params={"package_id": package_id, "payment_method": "pm_card_ok",
                "billing_interval": "P1M", **extra},
    )  # fmt: skip
    assert confirm.status_code == 200, confirm.text
    form = form_of(confirm)
    first = await client.post(PAGE, data=form)
    again = await client.post(PAGE, data=form)  # a double submit replays the first answer
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    return first


async def test_a_buyer_subscribes_once_per_confirm_and_cancels_at_period_end(
    console: httpx.AsyncClient,
    make_console_user: MakeConsoleUser,
    make_organization: MakeOrganization,
    session_maker: Maker,
):
    organization = await make_organization()
    buyer = await make_console_user(organization, BUYER)
    package = await create_package(session_maker)
    await sign_in(console, buyer.email)
    listing = await console.get(PAGE)
    assert listing.status_code == 200 and "New subscription" in listing.text

    created = await subscribe(console, package)
    location = created.headers["location"]
    subscription_id = int(location.split("/")[-1].split("?")[0])
    assert await count_rows(session_maker, "token_subscriptions",
                            "organization_id = :o", o=organization) == 1  # fmt: skip
    detail = await console.get(location)
    assert detail.status_code == 200
    assert 'data-testid="status">Active<' in detail.text
    assert "The subscription was created" in detail.text

    confirm = await console.get(f"{PAGE}/{subscription_id}/confirm/cancel",
                                params={"when": "period_end"})  # fmt: skip
    assert "Cancel at the end of the paid period?" in confirm.text
    done = await console.post(f"{PAGE}/{subscription_id}/cancel", data=form_of(confirm))
    assert done.status_code == 303
    after = await console.get(done.headers["location"])
    assert 'data-testid="cancel-at-period-end"' in after.text
    await console.post(
        f"{PAGE}/{subscription_id}/cancel",
        data={**form_of(confirm), "idempotency_key": uuid.uuid4().hex, "when": "immediately"},
    )


async def test_the_form_is_checked_by_the_api_rules_and_needs_its_csrf_token(
    console: httpx.AsyncClient,
    make_console_user: MakeConsoleUser,
    make_organization: MakeOrganization,
    session_maker: Maker,
):
    buyer = await make_console_user(await make_organization(), BUYER)
    package = await create_package(session_maker)
    await sign_in(console, buyer.email)
    refused = await console.get(
        f"{PAGE}/new",
        params={"package_id": package, "payment_method": "card", "billing_interval": "P1M"},
    )
    assert refused.status_code == 422 and "payment method" in refused.text
    confirm = await console.get(
        f"{PAGE}/new",
        params={"package_id": package, "payment_method": "pm_card_ok", "billing_interval": "P1M"},
    )
    form = form_of(confirm)
    del form["csrf_token"]
    assert (await console.post(PAGE, data=form)).status_code == 403


async def test_a_viewer_reads_but_may_not_subscribe_or_command_another_organization(
    console: httpx.AsyncClient,
    make_console_user: MakeConsoleUser,
    make_organization: MakeOrganization,
    session_maker: Maker,
):
    organization = await make_organization()
    buyer = await make_console_user(organization, BUYER)
    package = await create_package(session_maker)
    await sign_in(console, buyer.email)
    location = (await subscribe(console, package)).headers["location"]
    subscription_id = int(location.split("/")[-1].split("?")[0])
    csrf = csrf_of(await console.get(PAGE))
    await console.post(
        f"{PAGE}/{subscription_id}/cancel",
        data={"csrf_token": csrf, "idempotency_key": uuid.uuid4().hex, "when": "immediately"},
    )
    await console.post("/sign-out", data={"csrf_token": csrf})

    viewer = await make_console_user(organization, (directory.VIEW,))
    await sign_in(console, viewer.email)
    listing = await console.get(PAGE)
    assert f"#{subscription_id}" in listing.text and "New subscription" not in listing.text
    assert (await console.get(f"{PAGE}/new")).status_code == 403
    assert (await console.get(f"{PAGE}/{subscription_id}/confirm/pause")).status_code == 403
    csrf = csrf_of(listing)
    await console.post("/sign-out", data={"csrf_token": csrf})

    stranger = await make_console_user(await make_organization(), BUYER)
    await sign_in(console, stranger.email)
    assert (await console.get(location)).status_code == 403
    assert f"#{subscription_id}" not in (await console.get(PAGE)).text


async def test_pause_resume_and_package_and_a_refused_command_shows_why(
    console: httpx.AsyncClient,
    make_console_user: MakeConsoleUser,
    make_organization: MakeOrganization,
    session_maker: Maker,
):
    buyer = await make_console_user(await make_organization(), BUYER)
    package = await create_package(session_maker)
    other = await create_package(session_maker)
    await sign_in(console, buyer.email)
    location = (await subscribe(console, package)).headers["location"]
    subscription = location.split("?")[0]

    async def send(action: str, **params: str) -> httpx.Response:
        confirm = await console.get(f"{subscription}/confirm/{action}", params=params)
        assert confirm.status_code == 200, confirm.text
        return await console.post(f"{subscription}/{action}", data=form_of(confirm))

    assert (await send("pause")).status_code == 303
    paused = await console.get(subscription)
    assert 'data-testid="status">Paused<' in paused.text and "Review resume" in paused.text
    polled = await console.get(f"{subscription}/status", params={"shown": "active"})
    assert polled.status_code == 204 and polled.headers["hx-refresh"] == "true"
    card = await console.get(f"{subscription}/status", params={"shown": "paused"})
    assert card.status_code == 200 and 'hx-trigger="every 2s"' in card.text

    assert (await send("resume")).status_code == 303
    refused = await send("resume")
    assert refused.status_code == 409
    assert 'role="alert"' in refused.text

    assert (await send("package", package_id=str(other))).status_code == 303
    changed = await console.get(subscription)
    assert "From the next period" in changed.text
    await send("cancel", when="immediately")


async def test_an_admin_lists_every_organization_and_names_one_to_subscribe_for(
    console: httpx.AsyncClient,
    make_console_user: MakeConsoleUser,
    make_organization: MakeOrganization,
    session_maker: Maker,
):
    organization = await make_organization()
    admin = await make_console_user(None, (), role="admin")
    package = await create_package(session_maker)
    await sign_in(console, admin.email)
    listing = await console.get(PAGE)
    assert listing.status_code == 200 and 'id="new-organization"' in listing.text
    unnamed = await console.get(
        f"{PAGE}/new", params={"package_id": package, "payment_method": "pm_card_ok"}
    )
    assert unnamed.status_code == 422 and "choose the organization" in unnamed.text
    created = await subscribe(console, package, organization_id=str(organization))
    location = created.headers["location"]
    chosen = await console.get(PAGE, params={"organization_id": organization})
    assert location.split("?")[0].split("/")[-1] in chosen.text and "1 subscription<" in chosen.text
    missing = await console.get(f"{PAGE}/{2**31 - 2}")
    assert missing.status_code == 404 and "does not exist" in missing.text
    csrf = csrf_of(chosen)
    await console.post(
        f"{location.split('?')[0]}/cancel",
        data={"csrf_token": csrf, "idempotency_key": uuid.uuid4().hex, "when": "immediately"},
    )
