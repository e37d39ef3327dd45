"""The balance history page in process: charts' data, movements with reasons and references,
the range, pagination, refusals."""

import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import unescape

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db import ledger
from db.session import create_engine, create_session_maker
from tests.web.conftest import MakeConsoleUser, sign_in
from tokenbill.settings import Settings

Maker = async_sessionmaker[AsyncSession]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
CHART = re.compile(r'data-chart="([^"]+)" data-testid="([a-z-]+)"')


@pytest.fixture(scope="module")
async def owner(db_settings: Settings) -> AsyncIterator[Maker]:
    """The database login's own rights (superuser in tests), to back-date append-only history."""
    engine = create_engine(db_settings.model_copy(update={"database_assume_app_role": False}))
    yield create_session_maker(engine)
    await engine.dispose()


async def move(
    session_maker: Maker, organization_id: int, amount: str, reference: str, reason: str
) -> int:
    """A credit (positive) or a spend (negative) with its reason and reference; its history id."""
    async with session_maker() as session, session.begin():
        wallet_id = await ledger.ensure_wallet(session, organization_id)
        key = f"test:{uuid.uuid4()}"
        value = Decimal(amount)
        if value > 0:
            posting = await ledger.credit(
                session, wallet_id=wallet_id, amount=value, idempotency_key=key,
                description=reason, reference=reference,
            )  # fmt: skip
        else:
            posting = await ledger.debit(
                session, wallet_id=wallet_id, amount=-value, idempotency_key=key,
                description=reason, reference=reference,
            )  # fmt: skip
        return posting.transaction_id


async def backdate(owner: Maker, transaction_id: int, days: int) -> None:
    at = datetime.now(UTC) - timedelta(days=days)
    async with owner() as session, session.begin():
        await session.execute(text("SET LOCAL session_replication_role = replica"))
        for table, column in (("token_balance_history", "transaction_id"),
                              ("ledger_transactions", "id")):  # fmt: skip
            await session.execute(
                text(f"UPDATE {table} SET created_at = :at WHERE {column} = :id"),
                {"at": at, "id": transaction_id},
            )


def charts(page: httpx.Response) -> dict[str, dict[str, list[float]]]:
    return {name: json.loads(unescape(data)) for data, name in CHART.findall(page.text)}


async def test_the_page_charts_the_balance_and_consumption_and_lists_the_movements(
    console: httpx.AsyncClient,
    make_console_user: MakeConsoleUser,
    make_organization,
    session_maker: Maker,
    owner: Maker,
):
    organization = await make_organization()
    bought = await move(session_maker, organization, "500", "TKP-BALANCE1", "Business Pack")
    await backdate(owner, bought, 2)
    await move(session_maker, organization, "-20", "req-alpha", "Claim review")
    await move(session_maker, organization, "-12.5", "req-beta", "Coverage check")
    user = await make_console_user(organization)
    await sign_in(console, user.email)

    page = await console.get("/tokens/balance")
    assert page.status_code == 200
    assert not INLINE_SCRIPT.search(page.text)
    assert "/static/vendor/uplot/uPlot.iife.min.js" in page.text
    drawn = charts(page)
    balance, consumed = drawn["balance-chart"], drawn["consumption-chart"]
    assert len(balance["days"]) == 30 and balance["days"] == consumed["days"]
    assert balance["values"][-3:] == [500, 500, 467.5]
    assert consumed["values"][-3:] == [0, 0, 32.5]
    for text_shown in ("TKP-BALANCE1", "Business Pack", "req-alpha", "Claim review",
                       "req-beta", "-12.5", "467.5", "3 movements"):  # fmt: skip
        assert text_shown in page.text

    today = datetime.now(UTC).date()
    narrowed = await console.get(f"/tokens/balance?from={today}&to={today}")
    assert "req-alpha" in narrowed.text and "TKP-BALANCE1" not in narrowed.text
    assert charts(narrowed)["balance-chart"]["values"] == [467.5]


async def test_the_movements_come_a_page_at_a_time(
    console: httpx.AsyncClient,
    make_console_user: MakeConsoleUser,
    make_organization,
    session_maker: Maker,
):
    organization = await make_organization()
    await move(session_maker, organization, "100", "TKP-PAGES", "Starter")
    for number in range(26):
        await move(session_maker, organization, "-1", f"req-{number:02d}", "Spend")
    user = await make_console_user(organization)
    await sign_in(console, user.email)
    first = await console.get("/tokens/balance")
    assert "page 1 of 2" in first.text and "req-25" in first.text and "TKP-PAGES" not in first.text
    older = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert older
    second = await console.get(unescape(older.group(1)))
    assert "page 2 of 2" in second.text and "TKP-PAGES" in second.text
    assert 'rel="prev"' in second.text


async def test_a_wrong_range_is_said_and_other_wallets_are_refused(
    console: httpx.AsyncClient, make_console_user: MakeConsoleUser, make_organization
):
    user = await make_console_user(await make_organization())
    other = await make_organization()
    await sign_in(console, user.email)
    backwards = await console.get("/tokens/balance?from=2026-02-01&to=2026-01-01")
    assert backwards.status_code == 422 and "first day is after its last day" in backwards.text
    too_long = await console.get("/tokens/balance?from=2020-01-01&to=2026-01-01")
    assert too_long.status_code == 422 and "at most 366 days" in too_long.text
    garbled = await console.get("/tokens/balance?from=yesterday")
    assert garbled.status_code == 422 and "YYYY-MM-DD" in garbled.text
    empty = await console.get("/tokens/balance?from=&to=")
    assert empty.status_code == 200 and "No movements in this range." in empty.text
    refused = await console.get(f"/tokens/balance?organization_id={other}")
    assert refused.status_code == 403 and "your own organization" in refused.text


async def test_the_wallet_widget_reads_expiring_lots_when_tokens_expire(
    settings: Settings, make_console_user: MakeConsoleUser, make_organization, session_maker: Maker
):
    from tests.api.helpers import api_client
    from tests.database_helpers import credit_wallet

    organization = await make_organization()
    soon = datetime.now(UTC) + timedelta(days=3)
    await credit_wallet(session_maker, organization, "42.5", expires_at=soon)
    user = await make_console_user(organization)
    expiring = settings.model_copy(update={"token_expiration_enabled": True})
    async with api_client(expiring) as client:
        await sign_in(client, user.email)
        page = await client.get("/tokens")
    assert re.search(r"<dt>Expiring by [^<]+ UTC</dt><dd>42.5</dd>", page.text), page.text
    async with api_client(settings) as client:
        await sign_in(client, user.email)
        page = await client.get("/tokens")
    assert "None: tokens do not expire" in page.text


async def test_the_page_shows_the_active_holds_with_amount_reference_and_expiry(
    console: httpx.AsyncClient,
    make_console_user: MakeConsoleUser,
    make_organization,
    session_maker: Maker,
    db_settings: Settings,
):
    from db.holds import HoldRequest, place_hold, settle_hold
    from db.spend_pool import create_spend_pool
    from db.spending import SpendContext

    organization = await make_organization()
    await move(session_maker, organization, "100", "TKP-HOLDS", "Starter")
    expires_at = datetime(2099, 3, 4, 5, 6, tzinfo=UTC)
    context = SpendContext("system", "tests")
    pool = create_spend_pool(db_settings, size=1)
    await pool.open()
    try:
        async with pool.connection() as conn:
            kept = HoldRequest(
                organization, Decimal("12.5"), "kept", expires_at, "at:t", "Model call", "run-42"
            )
            gone = HoldRequest(organization, Decimal(3), "gone", expires_at, "at:t", None, "run-43")
            await place_hold(conn, kept, context)
            released = await place_hold(conn, gone, context)
            assert released.hold_id is not None
            await settle_hold(conn, organization, released.hold_id, "released", None, context)
    finally:
        await pool.close()
    user = await make_console_user(organization)
    await sign_in(console, user.email)

    page = await console.get("/tokens/balance")

    holds = page.text.split('data-testid="holds"')[1].split("</table>")[0]
    assert "1 active hold " in page.text
    assert "12.5" in holds and "run-42" in holds and "Model call" in holds
    assert "2099-03-04" in holds
    assert "run-43" not in holds
