"""Signing in to the console: the session cookie, CSRF, throttling, sign-out and timeouts."""

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, update

from db.models import ConsoleSession, TokenAuditLog
from services.sign_in.sessions import session_id_of
from tests.api.helpers import Maker
from tests.web.conftest import MakeConsoleUser, csrf_of, sign_in
from web.cookies import SESSION_COOKIE


async def test_root_sends_strangers_to_sign_in_and_members_to_tokens(
    console: httpx.AsyncClient, make_console_user: MakeConsoleUser, make_organization
):
    stranger = await console.get("/")
    assert (stranger.status_code, stranger.headers["location"]) == (303, "/sign-in")
    user = await make_console_user(await make_organization())
    signed_in = await sign_in(console, user.email)
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/tokens")
    cookie = signed_in.headers["set-cookie"]
    assert SESSION_COOKIE in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http here; https gets Secure
    member = await console.get("/")
    assert member.headers["location"] == "/tokens"


async def test_a_page_asks_for_sign_in_and_returns_to_it(console: httpx.AsyncClient):
    page = await console.get("/tokens?organization_id=3")
    assert page.status_code == 303
    assert page.headers["location"] == "/sign-in?next=%2Ftokens%3Forganization_id%3D3"


async def test_a_form_post_without_its_csrf_token_is_refused(
    console: httpx.AsyncClient, make_console_user: MakeConsoleUser, make_organization
):
    user = await make_console_user(await make_organization())
    await console.get("/sign-in")
    refused = await console.post("/sign-in", data={"email": user.email, "password": "x" * 20})
    assert refused.status_code == 403
    assert "security token" in refused.text
    assert SESSION_COOKIE not in refused.headers.get("set-cookie", "")
    wrong = await console.post(
        "/sign-in", data={"email": user.email, "password": "x" * 20, "csrf_token": "forged"}
    )
    assert wrong.status_code == 403


async def test_sign_out_ends_the_session_server_side(
    console: httpx.AsyncClient, make_console_user: MakeConsoleUser, make_organization
):
    user = await make_console_user(await make_organization())
    await sign_in(console, user.email)
    old_cookie = console.cookies[SESSION_COOKIE]
    page = await console.get("/tokens")
    assert page.status_code == 200
    out = await console.post("/sign-out", data={"csrf_token": csrf_of(page)})
    assert (out.status_code, out.headers["location"]) == (303, "/sign-in")
    console.cookies.set(SESSION_COOKIE, old_cookie)
    replayed = await console.get("/tokens")
    assert replayed.status_code == 303 and replayed.headers["location"].startswith("/sign-in")


async def test_an_idle_session_is_over(
    console: httpx.AsyncClient,
    make_console_user: MakeConsoleUser,
    make_organization,
    session_maker: Maker,
):
    user = await make_console_user(await make_organization())
    await sign_in(console, user.email)
    token = console.cookies[SESSION_COOKIE]
    async with session_maker() as session, session.begin():
        await session.execute(
            update(ConsoleSession)
            .where(ConsoleSession.id == session_id_of(token))
            .values(last_seen_at=datetime.now(UTC) - timedelta(hours=1))
        )
    assert (await console.get("/tokens")).status_code == 303


async def test_the_database_keeps_only_a_hash_of_the_session_token(
    console: httpx.AsyncClient,
    make_console_user: MakeConsoleUser,
    make_organization,
    session_maker: Maker,
):
    user = await make_console_user(await make_organization())
    await sign_in(console, user.email)
    token = console.cookies[SESSION_COOKIE]
    async with session_maker() as session:
        ids = (
            await session.scalars(
                select(ConsoleSession.id).where(ConsoleSession.user_id == user.id)
            )
        ).all()
    assert ids == [session_id_of(token)] and token not in ids


async def test_repeated_wrong_passwords_are_throttled_with_a_message_and_an_audit_record(
    console: httpx.AsyncClient,
    make_console_user: MakeConsoleUser,
    make_organization,
    session_maker: Maker,
):
    user = await make_console_user(await make_organization())
    for _ in range(5):
        wrong = await sign_in(console, user.email, "not the password at all")
        assert wrong.status_code == 401
        assert "do not match" in wrong.text
    throttled = await sign_in(console, user.email)
    assert throttled.status_code == 429
    assert "Too many wrong passwords for this account" in throttled.text
    assert int(throttled.headers["retry-after"]) > 0
    assert SESSION_COOKIE not in console.cookies
    async with session_maker() as session:
        actions = (
            await session.scalars(
                select(TokenAuditLog.action).where(TokenAuditLog.target_id == user.email)
            )
        ).all()
    assert actions.count("console.sign_in.failed") == 5
    assert "console.sign_in.throttled" in actions


async def test_a_deactivated_user_cannot_sign_in(
    console: httpx.AsyncClient,
    make_console_user: MakeConsoleUser,
    make_organization,
    session_maker: Maker,
):
    from db.models import User

    user = await make_console_user(await make_organization())
    async with session_maker() as session, session.begin():
        await session.execute(update(User).where(User.id == user.id).values(is_active=False))
    assert (await sign_in(console, user.email)).status_code == 401


async def test_over_https_the_session_cookie_is_secure(
    settings, make_console_user: MakeConsoleUser, make_organization
):
    from api.app import create_app

    user = await make_console_user(await make_organization())
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="https://tokenbill.test") as c:
            signed_in = await sign_in(c, user.email)
    assert signed_in.status_code == 303
    assert "Secure" in signed_in.headers["set-cookie"]


def test_sign_in_returns_only_to_paths_on_this_site():
    from web.pages.sign_in import safe_next

    assert safe_next("/tokens?organization_id=2") == "/tokens?organization_id=2"
    for foreign in ("https://evil.test/", "//evil.test/x", "/\\evil.test", "tokens", "", None):
        assert safe_next(foreign) == "/tokens"


async def test_a_remembered_session_of_a_user_deactivated_in_this_process_opens_nothing_at_once(
    console: httpx.AsyncClient,
    make_console_user: MakeConsoleUser,
    make_organization,
    session_maker: Maker,
):
    from db.models import User

    user = await make_console_user(await make_organization())
    await sign_in(console, user.email)
    assert (await console.get("/tokens")).status_code == 200  # the session's user is remembered
    async with session_maker() as session, session.begin():
        await session.execute(update(User).where(User.id == user.id).values(is_active=False))
    after = await console.get("/tokens")
    assert (after.status_code, after.headers["location"]) == (303, "/sign-in?next=%2Ftokens")
