"""The purchase and purchase-history pages in process: the order form and its confirmation, a
double submit making one purchase, the live status partial, permissions, filters and CSV."""

import re
import uuid

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import directory
from db.models import TokenPurchase
from tests.api.helpers import api_client
from tests.purchase_helpers import create_package
from tests.web.conftest import MakeConsoleUser, csrf_of, sign_in
from tokenbill.settings import Settings

Maker = async_sessionmaker[AsyncSession]
BUYER = (directory.VIEW, directory.PURCHASE)


async def _purchases_of(session_maker: Maker, organization_id: int) -> int:
    async with session_maker() as session:
        count = await session.scalar(
            select(func.count()).where(TokenPurchase.organization_id == organization_id)
        )
    return int(count or 0)


async def _review(
    console: httpx.AsyncClient, organization_id: int, package: int, quantity: int = 1
) -> httpx.Response:
    form = await console.get("/tokens/purchase")
    key = re.search(r'name="key" value="([^"]+)"', form.text)
    assert key, form.text
    return await console.get(
        "/tokens/purchase/review",
        params={"organization_id": organization_id, "package_id": package, "quantity": quantity,
                "payment_method": "pm_card_ok", "key": key.group(1)},
    )  # fmt: skip


def _confirmation(review: httpx.Response) -> dict[str, str]:
    fields = dict(re.findall(r'type="hidden" name="([a-z_]+)" value="([^"]*)"', review.text))
    fields["csrf_token"] = csrf_of(review)
    return fields


async def test_a_buyer_reviews_and_a_double_submit_makes_one_purchase(
    console: httpx.AsyncClient,
    make_console_user: MakeConsoleUser,
    make_organization,
    session_maker: Maker,
):
    organization = await make_organization()
    package = await create_package(session_maker)
    user = await make_console_user(organization, BUYER)
    await sign_in(console, user.email)

    form = await console.get("/tokens/purchase")
    assert form.status_code == 200
    assert "250.00 USD" in form.text and "40.00 USD" in form.text and "290.00 USD" in form.text
    assert 'href="/tokens/purchase"' in form.text  # the navigation offers it

    review = await _review(console, organization, package, quantity=2)
    assert review.status_code == 200
    assert "580.00 USD" in review.text and "Tax (16%)" in review.text
    confirmation = _confirmation(review)

    first = await console.post("/tokens/purchase", data=confirmation)
    second = await console.post("/tokens/purchase", data=confirmation)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert first.headers["location"].startswith("/tokens/purchase/TKP-")
    assert await _purchases_of(session_maker, organization) == 1

    page = await console.get(first.headers["location"])
    assert page.status_code == 200
    assert "1000" in page.text and "580.00 USD" in page.text
    partial = await console.get(first.headers["location"] + "/status")
    assert partial.status_code == 200 and 'id="purchase-status"' in partial.text
    assert "<nav" not in partial.text


async def test_a_form_without_its_csrf_token_or_with_too_many_packs_buys_nothing(
    console: httpx.AsyncClient,
    make_console_user: MakeConsoleUser,
    make_organization,
    session_maker: Maker,
):
    organization = await make_organization()
    package = await create_package(session_maker)
    user = await make_console_user(organization, BUYER)
    await sign_in(console, user.email)
    confirmation = _confirmation(await _review(console, organization, package))
    refused = await console.post("/tokens/purchase", data={**confirmation, "csrf_token": "forged"})
    assert refused.status_code == 403
    too_many = await console.post("/tokens/purchase", data={**confirmation, "quantity": "101"})
    assert too_many.status_code == 422 and "at most 100 packs" in too_many.text
    assert await _purchases_of(session_maker, organization) == 0


async def test_a_viewer_sees_no_buy_entry_and_gets_the_403_page(
    console: httpx.AsyncClient, make_console_user: MakeConsoleUser, make_organization
):
    user = await make_console_user(await make_organization())
    await sign_in(console, user.email)
    history = await console.get("/tokens/history")
    assert history.status_code == 200
    assert 'href="/tokens/purchase"' not in history.text
    page = await console.get("/tokens/purchase")
    assert page.status_code == 403
    assert "This page needs the tokens.purchase permission." in page.text


async def test_history_filters_exports_and_keeps_other_organizations_out(
    console: httpx.AsyncClient,
    make_console_user: MakeConsoleUser,
    make_organization,
    session_maker: Maker,
):
    organization = await make_organization()
    package = await create_package(session_maker)
    user = await make_console_user(organization, BUYER)
    await sign_in(console, user.email)
    bought = await console.post(
        "/tokens/purchase", data=_confirmation(await _review(console, organization, package))
    )
    reference = bought.headers["location"].rsplit("/", 1)[1]

    history = await console.get("/tokens/history")
    assert reference in history.text and "1 purchase " in history.text
    assert "Temporal UI" not in history.text
    none_failed = await console.get("/tokens/history", params={"status": "failed"})
    assert reference not in none_failed.text and "No purchases match." in none_failed.text
    by_type = await console.get("/tokens/history", params={"type": "one_time", "to": "2999-01-01"})
    assert reference in by_type.text
    as_the_form_sends = await console.get(
        "/tokens/history", params={"status": "", "type": "", "from": "", "to": ""}
    )
    assert as_the_form_sends.status_code == 200 and reference in as_the_form_sends.text

    export = await console.get("/tokens/history.csv")
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    lines = export.text.splitlines()
    assert lines[0].startswith("purchase_reference_id,organization_id,purchase_type,status")
    assert len(lines) == 2 and lines[1].startswith(f"{reference},{organization},one_time,")

    other = await make_organization()
    refused = await console.get("/tokens/history", params={"organization_id": other})
    assert refused.status_code == 403
    stranger = await make_console_user(await make_organization(), BUYER)
    strange = httpx.AsyncClient(transport=console._transport, base_url=str(console.base_url))
    async with strange:
        await sign_in(strange, stranger.email)
        assert (await strange.get(f"/tokens/purchase/{reference}")).status_code == 403
        missing = await strange.get(f"/tokens/invoices/TOK-{uuid.uuid4().hex[:6]}")
        assert missing.status_code == 403
        missing_pdf = await strange.get(f"/tokens/invoices/TOK-{uuid.uuid4().hex[:6]}.pdf")
        assert missing_pdf.status_code == 403


async def test_an_admin_sees_every_organization_and_each_workflow_in_the_temporal_ui(
    settings: Settings,
    make_console_user: MakeConsoleUser,
    make_organization,
    session_maker: Maker,
):
    organization = await make_organization()
    package = await create_package(session_maker)
    buyer = await make_console_user(organization, BUYER)
    admin = await make_console_user(None, (), role="admin")
    linked = settings.model_copy(update={"temporal_ui_url": "http://localhost:8233/"})
    async with api_client(linked) as console:
        await sign_in(console, buyer.email)
        bought = await console.post(
            "/tokens/purchase", data=_confirmation(await _review(console, organization, package))
        )
        reference = bought.headers["location"].rsplit("/", 1)[1]
    async with api_client(linked) as console:
        await sign_in(console, admin.email)
        history = await console.get("/tokens/history", params={"organization_id": organization})
    assert reference in history.text
    namespace = settings.temporal_namespace
    link = f"http://localhost:8233/namespaces/{namespace}/workflows/purchase-{reference}"
    assert f'href="{link}"' in history.text
