"""The settings page in process: thresholds, the automatic top-up policy, webhooks and API keys,
through the same services (and so the same rules) as the API."""

from decimal import Decimal

import httpx
from sqlalchemy import select

from db import directory
from db.audit import Actor
from db.models import AutoTopupPolicy
from db.models import OrganizationTokenWallet as Wallet
from services.wallet.spend_limits import list_limits
from tests.api.helpers import Maker, api_client
from tests.notification_helpers import create_endpoint, funded_wallet, set_policy
from tests.purchase_helpers import create_package
from tests.web.conftest import MakeConsoleUser, csrf_of, sign_in
from tokenbill.settings import Settings

CONFIGURER = (directory.VIEW, directory.CONFIGURE, directory.PURCHASE)


async def _post(client: httpx.AsyncClient, path: str, form: dict[str, str]) -> httpx.Response:
    page = await client.get("/tokens/settings")
    return await client.post(path, data={**form, "csrf_token": csrf_of(page)})


async def test_a_configure_user_sets_thresholds_and_a_policy(
    console: httpx.AsyncClient,
    make_console_user: MakeConsoleUser,
    make_organization,
    session_maker: Maker,
):
    organization = await make_organization()
    package = await create_package(session_maker)
    user = await make_console_user(organization, CONFIGURER)
    await sign_in(console, user.email)
    page = await console.get("/tokens/settings")
    assert page.status_code == 200
    assert 'href="/tokens/settings" aria-current="page"' in page.text
    assert "made and revoked by a platform admin" in page.text

    saved = await _post(console, "/tokens/settings/thresholds", {"low": "300", "critical": "50"})
    assert saved.status_code == 200 and "Thresholds saved." in saved.text
    refused = await _post(console, "/tokens/settings/thresholds", {"low": "10", "critical": "50"})
    assert refused.status_code == 422
    assert "the critical threshold (50) is above the low one (10)" in refused.text

    policy = await _post(console, "/tokens/settings/auto-topup", {
        "enabled": "on", "threshold": "250", "buys": "package", "package_id": str(package),
        "payment_method": "pm_card_ok", "cooldown": "PT0S",
    })  # fmt: skip
    assert policy.status_code == 200, policy.text
    assert "Automatic top-up policy saved." in policy.text
    assert "balance below 250 tokens" in policy.text
    bad = await _post(console, "/tokens/settings/auto-topup", {
        "buys": "target_balance", "target_balance": "100", "threshold": "250",
        "payment_method": "pm_card_ok",
    })  # fmt: skip
    assert bad.status_code == 422 and "target_balance must be above the threshold" in bad.text

    async with session_maker() as session:
        wallet = await session.scalar(select(Wallet).where(Wallet.organization_id == organization))
        stored = await session.scalar(
            select(AutoTopupPolicy).where(AutoTopupPolicy.organization_id == organization)
        )
    assert wallet is not None and wallet.low_balance_threshold == Decimal(300)
    assert stored is not None and stored.threshold == Decimal(250) and stored.package_id == package


async def test_forms_without_their_csrf_token_are_refused(
    console: httpx.AsyncClient, make_console_user: MakeConsoleUser, make_organization
):
    user = await make_console_user(await make_organization(), CONFIGURER)
    await sign_in(console, user.email)
    for path in ("/tokens/settings/thresholds", "/tokens/settings/auto-topup",
                 "/tokens/settings/webhooks", "/tokens/settings/api-keys"):  # fmt: skip
        refused = await console.post(path, data={"low": "1"})
        assert refused.status_code == 403 and "security token" in refused.text


async def test_the_page_and_its_commands_follow_the_apis_permissions(
    console: httpx.AsyncClient, make_console_user: MakeConsoleUser, make_organization
):
    organization = await make_organization()
    viewer = await make_console_user(organization)
    await sign_in(console, viewer.email)
    page = await console.get("/tokens/settings")
    assert page.status_code == 403 and "tokens.configure" in page.text
    assert 'href="/tokens/settings"' not in page.text

    settings_only = await make_console_user(organization, (directory.VIEW, directory.CONFIGURE))
    await console.post("/sign-out", data={"csrf_token": csrf_of(page)})
    await sign_in(console, settings_only.email)
    page = await console.get("/tokens/settings")
    assert page.status_code == 200 and "needs the tokens.purchase permission" in page.text
    policy = await _post(console, "/tokens/settings/auto-topup", {"threshold": "10"})
    assert policy.status_code == 403 and "tokens.purchase" in policy.text
    keys = await _post(console, "/tokens/settings/api-keys", {"name": "mine"})
    assert keys.status_code == 403 and "Only admins manage API keys." in keys.text
    other = await console.get(f"/tokens/settings?organization_id={await make_organization()}")
    assert other.status_code == 403


async def test_a_deactivated_organizations_own_users_cannot_change_its_settings(
    console: httpx.AsyncClient,
    make_console_user: MakeConsoleUser,
    make_organization,
    session_maker: Maker,
):
    organization = await make_organization()
    user = await make_console_user(organization, CONFIGURER)
    async with session_maker() as session, session.begin():
        await directory.deactivate_organization(session, organization, actor=Actor.system("t"))
    await sign_in(console, user.email)
    page = await console.get("/tokens/settings")
    assert page.status_code == 200 and "deactivated" in page.text
    refused = await _post(console, "/tokens/settings/thresholds", {"low": "300"})
    assert refused.status_code == 409
    assert "is deactivated; an admin can reactivate it" in refused.text


async def test_webhooks_show_their_secret_once_rotate_and_send_a_test_event(
    settings: Settings, make_console_user: MakeConsoleUser, make_organization
):
    user = await make_console_user(await make_organization(), CONFIGURER)
    local = settings.model_copy(update={"webhook_allow_private_addresses": True})
    async with api_client(local) as console:
        await sign_in(console, user.email)
        made = await _post(console, "/tokens/settings/webhooks", {
            "url": "http://127.0.0.1:9/hook", "event_types": "wallet.*, purchase.completed",
            "description": "Ops <b>pager</b>",
        })  # fmt: skip
        assert made.status_code == 200, made.text
        secret = _secret(made.text)
        assert secret.startswith("whsec_")
        assert "Ops &lt;b&gt;pager&lt;/b&gt;" in made.text
        page = await console.get("/tokens/settings")
        assert secret not in page.text and f"…{secret[-4:]}" in page.text
        endpoint_id = page.text.split("/tokens/settings/webhooks/")[1].split("/")[0]

        rotated = await _post(console, f"/tokens/settings/webhooks/{endpoint_id}/rotate", {})
        assert rotated.status_code == 200 and _secret(rotated.text) != secret
        assert "the previous one signs until" in rotated.text

        tested = await _post(console, f"/tokens/settings/webhooks/{endpoint_id}/test", {})
        assert tested.status_code == 200, tested.text
        assert "Test event sent" in tested.text and "webhook.test" in tested.text


def _secret(page: str) -> str:
    return page.split('data-testid="secret"')[0].rsplit('value="', 1)[1].split('"')[0]


async def test_an_admin_creates_lists_and_revokes_an_organizations_api_key(
    console: httpx.AsyncClient, make_console_user: MakeConsoleUser, make_organization
):
    organization = await make_organization()
    admin = await make_console_user(None, (), role="admin")
    await sign_in(console, admin.email)
    chooser = await console.get("/tokens/settings")
    assert "Choose an organization to configure." in chooser.text
    query = f"?organization_id={organization}"
    made = await _post(console, f"/tokens/settings/api-keys{query}", {"name": "Claims robot"})
    assert made.status_code == 200, made.text
    assert _secret(made.text).startswith("tbk_")
    page = await console.get(f"/tokens/settings{query}")
    assert "Claims robot" in page.text and _secret(made.text) not in page.text
    key_id = page.text.split("/tokens/settings/api-keys/")[1].split("/")[0]
    revoked = await _post(console, f"/tokens/settings/api-keys/{key_id}/revoke{query}", {})
    assert revoked.status_code == 200 and "revoked" in revoked.text


async def test_another_organizations_webhook_cannot_be_rotated_or_tested(
    console: httpx.AsyncClient,
    settings: Settings,
    make_console_user: MakeConsoleUser,
    make_organization,
    session_maker: Maker,
):
    endpoint_id, _ = await create_endpoint(
        session_maker, await make_organization(), "http://127.0.0.1:9/hook", settings=settings
    )
    stranger = await make_console_user(await make_organization(), CONFIGURER)
    await sign_in(console, stranger.email)
    for action in ("rotate", "test"):
        refused = await _post(console, f"/tokens/settings/webhooks/{endpoint_id}/{action}", {})
        assert refused.status_code == 403
        assert "only configure your own organization" in refused.text


async def test_a_suspended_policy_shows_its_reason(
    console: httpx.AsyncClient,
    make_console_user: MakeConsoleUser,
    make_organization,
    session_maker: Maker,
):
    from datetime import UTC, datetime

    organization = await make_organization()
    wallet_id = await funded_wallet(session_maker, organization, "10")
    await set_policy(
        session_maker, wallet_id, organization, threshold=Decimal(100),
        target_balance=Decimal(500), status="suspended",
        suspended_reason="3 payments in a row failed: card_declined",
        suspended_at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
    )  # fmt: skip
    user = await make_console_user(organization, CONFIGURER)
    await sign_in(console, user.email)
    page = await console.get("/tokens/settings")
    assert page.status_code == 200
    assert 'data-testid="policy-status">suspended' in page.text
    assert "3 payments in a row failed: card_declined (2026-12-01 09:30 UTC)" in page.text
    assert "enough tokens to reach 500" in page.text


async def test_a_configure_user_sets_and_removes_spend_limits_on_the_page(
    console: httpx.AsyncClient,
    make_console_user: MakeConsoleUser,
    make_organization,
    session_maker: Maker,
):
    organization = await make_organization()
    user = await make_console_user(organization, CONFIGURER)
    await sign_in(console, user.email)
    assert "No spend limits." in (await console.get("/tokens/settings")).text

    day = {"api_key_id": "", "period": "day", "cap": "250", "mode": "hard"}
    saved = await _post(console, "/tokens/settings/spend-limits", day)
    assert saved.status_code == 200 and "Spend limit saved." in saved.text
    changed = await _post(console, "/tokens/settings/spend-limits", {**day, "cap": "300"})
    month = await _post(
        console, "/tokens/settings/spend-limits", {**day, "period": "month", "mode": "soft"}
    )
    assert changed.status_code == month.status_code == 200
    refused = await _post(console, "/tokens/settings/spend-limits", {**day, "cap": "-1"})
    assert refused.status_code == 422 and "cap" in refused.text
    foreign = await _post(console, "/tokens/settings/spend-limits", {**day, "api_key_id": "999999"})
    assert foreign.status_code == 422
    assert f"API key 999999 does not spend for organization {organization}" in foreign.text

    async with session_maker() as session:
        limits = await list_limits(session, organization)
    assert [(s.period, s.cap, s.mode) for s in limits] == [
        ("day", Decimal(300), "hard"), ("month", Decimal(250), "soft"),
    ]  # fmt: skip
    removed = await _post(console, f"/tokens/settings/spend-limits/{limits[0].id}/remove", {})
    assert removed.status_code == 200 and "Spend limit removed." in removed.text
    async with session_maker() as session:
        assert [s.period for s in await list_limits(session, organization)] == ["month"]
