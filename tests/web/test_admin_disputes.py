"""Disputes in the admin console, in process: an admin sees the open disputes and decides one
(release or forfeit) after a confirmation page, through the service the admin API calls;
the form needs its CSRF token, a dispute is decided once, members get the 403 page."""

import httpx
from sqlalchemy import text

from tests.api.conftest import make_package
from tests.api.helpers import MakePackage, Maker, count_rows
from tests.api.stripe_helpers import (
    PaidPurchase,
    deliver,
    emitted,
    paid_purchase,
    standin,
    stripe_api,
    stripe_settings,
    wallet_balance,
)
from tests.web.conftest import MakeConsoleUser, csrf_of, sign_in
from tokenbill.devstack.stripe_standin.server import StandinServer

__all__ = ["make_package", "standin", "stripe_api", "stripe_settings"]


async def _disputed(
    stripe_api: httpx.AsyncClient, standin: StandinServer, session_maker: Maker, org: int,
    package: int,
) -> tuple[PaidPurchase, str]:  # fmt: skip
    purchase = await paid_purchase(session_maker, standin, org, package)
    async with httpx.AsyncClient(base_url=standin.url) as raw:
        opened = await raw.post(f"/_standin/charges/{purchase.charge}/dispute")
    stripe_id = str(opened.json()["id"])
    answer = await deliver(stripe_api, emitted(standin, "charge.dispute.created", stripe_id))
    assert answer.json()["outcome"] == "tokens_frozen"
    return purchase, stripe_id


async def _dispute_id(session_maker: Maker, stripe_id: str) -> int:
    async with session_maker() as session:
        found = await session.scalar(
            text("SELECT id FROM token_disputes WHERE stripe_dispute_id = :s"), {"s": stripe_id}
        )
    return int(found)


async def test_an_admin_releases_a_dispute_after_confirming(
    console: httpx.AsyncClient,
    stripe_api: httpx.AsyncClient,
    standin: StandinServer,
    session_maker: Maker,
    make_console_user: MakeConsoleUser,
    make_organization,
    make_package: MakePackage,
) -> None:
    org = await make_organization()
    purchase, stripe_id = await _disputed(
        stripe_api, standin, session_maker, org, await make_package()
    )
    dispute_id = await _dispute_id(session_maker, stripe_id)
    assert await wallet_balance(session_maker, org) == 0
    admin = await make_console_user(None, (), role="admin")
    await sign_in(console, admin.email)

    listed = await console.get("/admin/disputes")
    assert listed.status_code == 200
    assert stripe_id in listed.text
    assert f'href="/admin/disputes/{dispute_id}/confirm/release"' in listed.text
    confirm = await console.get(f"/admin/disputes/{dispute_id}/confirm/release")
    assert confirm.status_code == 200
    assert "Release 500" in confirm.text

    refused = await console.post(f"/admin/disputes/{dispute_id}/release", data={})
    assert refused.status_code == 403
    assert await wallet_balance(session_maker, org) == 0

    token = csrf_of(confirm)
    done = await console.post(
        f"/admin/disputes/{dispute_id}/release", data={"csrf_token": token, "note": "won"}
    )
    assert (done.status_code, done.headers["location"]) == (
        303, "/admin/disputes?done=dispute_released",
    )  # fmt: skip
    assert await wallet_balance(session_maker, org) == purchase.tokens
    after = await console.get(done.headers["location"])
    assert "its frozen tokens went back to the wallet" in after.text
    assert stripe_id not in after.text
    assert await count_rows(
        session_maker, "token_audit_logs",
        "action = 'dispute.release' AND target_id = :d", d=str(dispute_id),
    ) == 1  # fmt: skip

    again = await console.post(f"/admin/disputes/{dispute_id}/forfeit", data={"csrf_token": token})
    assert again.status_code == 409
    assert "was already decided" in again.text


async def test_an_admin_forfeits_a_dispute(
    console: httpx.AsyncClient,
    stripe_api: httpx.AsyncClient,
    standin: StandinServer,
    session_maker: Maker,
    make_console_user: MakeConsoleUser,
    make_organization,
    make_package: MakePackage,
) -> None:
    org = await make_organization()
    _, stripe_id = await _disputed(stripe_api, standin, session_maker, org, await make_package())
    dispute_id = await _dispute_id(session_maker, stripe_id)
    admin = await make_console_user(None, (), role="admin")
    await sign_in(console, admin.email)
    confirm = await console.get(f"/admin/disputes/{dispute_id}/confirm/forfeit")
    done = await console.post(
        f"/admin/disputes/{dispute_id}/forfeit", data={"csrf_token": csrf_of(confirm)}
    )
    assert done.headers["location"] == "/admin/disputes?done=dispute_forfeited"
    assert await wallet_balance(session_maker, org) == 0
    assert await count_rows(
        session_maker, "token_disputes", "id = :d AND status = 'forfeited'", d=dispute_id
    ) == 1  # fmt: skip


async def test_members_get_the_403_page_on_disputes(
    console: httpx.AsyncClient, make_console_user: MakeConsoleUser, make_organization
) -> None:
    member = await make_console_user(await make_organization())
    await sign_in(console, member.email)
    for path in ("/admin/disputes", "/admin/disputes/1/confirm/release"):
        assert (await console.get(path)).status_code == 403, path
