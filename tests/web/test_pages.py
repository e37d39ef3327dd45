"""The console's pages in process: the layout, permissions, the wallet, the widget, the docs."""

import re
from decimal import Decimal

import httpx

from db import directory
from tests.web.conftest import MakeConsoleUser, sign_in

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)


async def test_the_wallet_page_shows_the_widget_under_a_strict_policy(
    console: httpx.AsyncClient, make_console_user: MakeConsoleUser, make_organization
):
    user = await make_console_user(await make_organization("Clinic <b>Bold</b> & Co"))
    await sign_in(console, user.email)
    page = await console.get("/tokens")
    assert page.status_code == 200
    assert "Clinic &lt;b&gt;Bold&lt;/b&gt; &amp; Co" in page.text
    assert "<b>Bold</b>" not in page.text
    assert 'data-testid="balance">0<' in page.text
    assert "Critical" in page.text  # zero is under the critical threshold
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert not INLINE_SCRIPT.search(page.text)


async def test_navigation_shows_only_what_the_user_may_open_and_refusals_are_403_pages(
    console: httpx.AsyncClient, make_console_user: MakeConsoleUser, make_organization
):
    user = await make_console_user(await make_organization(), (directory.CONSUME,))
    await sign_in(console, user.email)
    page = await console.get("/tokens")
    assert page.status_code == 403
    assert "This page needs the tokens.view permission." in page.text
    assert 'href="/tokens"' not in page.text
    assert "Traceback" not in page.text


async def test_a_user_cannot_open_another_organizations_wallet(
    console: httpx.AsyncClient, make_console_user: MakeConsoleUser, make_organization
):
    user = await make_console_user(await make_organization())
    other = await make_organization()
    await sign_in(console, user.email)
    page = await console.get(f"/tokens?organization_id={other}")
    assert page.status_code == 403
    assert "your own organization" in page.text


async def test_an_admin_chooses_the_organization(
    console: httpx.AsyncClient, make_console_user: MakeConsoleUser, make_organization
):
    admin = await make_console_user(None, (), role="admin")
    organization = await make_organization("Chosen Clinic")
    await sign_in(console, admin.email)
    chooser = await console.get("/tokens")
    assert "Choose an organization" in chooser.text
    chosen = await console.get(f"/tokens?organization_id={organization}")
    assert "Chosen Clinic" in chosen.text


async def test_the_widget_alone_may_be_framed_by_the_configured_ancestors(
    console: httpx.AsyncClient, make_console_user: MakeConsoleUser, make_organization
):
    user = await make_console_user(await make_organization())
    await sign_in(console, user.email)
    widget = await console.get("/tokens/widget")
    assert widget.status_code == 200
    assert "frame-ancestors 'none'" in widget.headers["content-security-policy"]
    assert "x-frame-options" not in widget.headers
    assert "<nav" not in widget.text and 'data-testid="balance"' in widget.text


async def test_the_api_docs_are_served_from_the_app_without_inline_script(
    console: httpx.AsyncClient,
):
    for path, asset in (
        ("/docs", "/static/vendor/swagger-ui/swagger-ui-bundle.js"),
        ("/redoc", "/static/vendor/redoc/redoc.standalone.js"),
    ):
        page = await console.get(path)
        assert page.status_code == 200
        assert asset in page.text and "cdn" not in page.text.lower()
        assert not INLINE_SCRIPT.search(page.text)
        assert "script-src 'self'" in page.headers["content-security-policy"]
        served = await console.get(asset)
        assert served.status_code == 200 and len(served.content) > 100_000


def test_token_amounts_read_as_exact_decimals():
    from web.templates import money, tokens

    assert tokens(Decimal("500.0000")) == "500"
    assert tokens(Decimal("12.5000")) == "12.5"
    assert money(Decimal("290"), "USD") == "290.00 USD"


async def test_the_widget_names_its_frame_ancestors_from_the_setting(
    settings, make_console_user: MakeConsoleUser, make_organization
):
    from tests.api.helpers import api_client

    host = "https://care.example.org"
    user = await make_console_user(await make_organization())
    framed = settings.model_copy(update={"console_widget_frame_ancestors": host})
    async with api_client(framed) as client:
        await sign_in(client, user.email)
        widget = await client.get("/tokens/widget")
        page = await client.get("/tokens")
    assert f"frame-ancestors {host}" in widget.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


async def test_the_widget_shows_the_low_state_the_forecast_and_the_suggested_package(
    console: httpx.AsyncClient,
    make_console_user: MakeConsoleUser,
    make_organization,
    session_maker,
):
    from datetime import date

    from db.models import TokenPackage, TokenUsageForecast
    from tests.notification_helpers import funded_wallet

    organization = await make_organization()
    wallet_id = await funded_wallet(session_maker, organization, "80")
    async with session_maker() as session, session.begin():
        package = TokenPackage(
            name=f"Widget Pack {organization}", token_quantity=Decimal(500),
            price_per_token=Decimal("0.58"), currency="USD",
        )  # fmt: skip
        session.add(package)
        await session.flush()
        session.add(
            TokenUsageForecast(
                wallet_id=wallet_id, organization_id=organization,
                forecast_date=date(2026, 12, 1), average_daily_consumption=Decimal("8"),
                projected_depletion_date=date(2026, 12, 11), days_remaining=10,
                suggested_package_id=package.id,
            )
        )  # fmt: skip
    user = await make_console_user(organization)
    await sign_in(console, user.email)
    page = await console.get("/tokens")
    assert 'data-testid="balance">80<' in page.text
    assert "Low: at or under 100 tokens" in page.text
    assert "10 (by 2026-12-11)" in page.text
    assert f"Widget Pack {organization} (500 tokens)" in page.text
    assert "2026-" in page.text and " UTC" in page.text


def test_the_frame_ancestors_setting_is_one_source_list():
    import pytest
    from pydantic import ValidationError

    from tokenbill.settings import Settings

    for bad in ("'self'; script-src *", "https://a.test\r\nSet-Cookie: x=1", " "):
        with pytest.raises(ValidationError):
            Settings(_env_file=None, console_widget_frame_ancestors=bad)
    kept = Settings(_env_file=None, console_widget_frame_ancestors="'self' https://care.test")
    assert kept.console_widget_frame_ancestors == "'self' https://care.test"
