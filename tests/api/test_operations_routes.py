"""Expirations and forecast (tokens.view, own organization) and reconciliation runs (admin)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
from sqlalchemy import text

from db import ledger
from tests.api.helpers import Maker, MakeUser


async def test_expirations_list_open_lots_soonest_first_for_the_own_organization(
    client: httpx.AsyncClient, make_user: MakeUser, session_maker: Maker, make_organization
) -> None:
    org = await make_organization()
    now = datetime.now(UTC)
    async with session_maker() as session, session.begin():
        wallet = await ledger.ensure_wallet(session, org)
        for amount, days in (("40", 20), ("25", 3), ("10", 400)):
            await ledger.credit(
                session,
                wallet_id=wallet,
                amount=Decimal(amount),
                idempotency_key=f"api-exp:{org}:{days}",
                expires_at=now + timedelta(days=days),
            )
    viewer = await make_user(org, ("tokens.view",))

    answer = await client.get(
        f"/api/tokens/wallet/{org}/expirations",
        params={"within": "P30D"},
        headers=viewer.headers(),
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [lot["remaining_amount"] for lot in body["lots"]] == ["25", "40"]
    assert body["total_expiring"] == "65"
    assert body["wallet_id"] == wallet


async def test_forecast_answers_the_stored_forecast_and_404_before_the_first(
    client: httpx.AsyncClient, make_user: MakeUser, session_maker: Maker, make_organization
) -> None:
    org = await make_organization()
    viewer = await make_user(org, ("tokens.view",))
    async with session_maker() as session, session.begin():
        wallet = await ledger.ensure_wallet(session, org)

    missing = await client.get(f"/api/tokens/wallet/{org}/forecast", headers=viewer.headers())
    async with session_maker() as session, session.begin():
        await session.execute(
            text(
                "INSERT INTO token_usage_forecasts (wallet_id, organization_id, forecast_date, "
                "average_daily_consumption, projected_depletion_date, days_remaining, confidence,"
                " method) VALUES (:w, :o, :d, 12.5, :dep, 8, 0.75, 'ewma')"
            ),
            {"w": wallet, "o": org, "d": date(2026, 1, 1), "dep": date(2026, 1, 9)},
        )
    found = await client.get(f"/api/tokens/wallet/{org}/forecast", headers=viewer.headers())

    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "forecast_not_found"
    assert found.status_code == 200, found.text
    assert found.json()["average_daily_consumption"] == "12.5"
    assert found.json()["projected_depletion_date"] == "2026-01-09"
    assert found.json()["confidence"] == "0.75"


async def test_wallet_operations_need_tokens_view_on_the_own_organization(
    client: httpx.AsyncClient, make_user: MakeUser, make_organization
) -> None:
    org, other = await make_organization(), await make_organization()
    without_view = await make_user(org, ("tokens.purchase",))
    stranger = await make_user(other, ("tokens.view",))

    for path in ("expirations", "forecast"):
        refused = await client.get(
            f"/api/tokens/wallet/{org}/{path}", headers=without_view.headers()
        )
        foreign = await client.get(f"/api/tokens/wallet/{org}/{path}", headers=stranger.headers())
        anonymous = await client.get(f"/api/tokens/wallet/{org}/{path}")
        assert (refused.status_code, foreign.status_code, anonymous.status_code) == (403, 403, 401)


async def test_reconciliation_runs_are_for_admins_only(
    client: httpx.AsyncClient, make_user: MakeUser, make_organization
) -> None:
    org = await make_organization()
    user = await make_user(org)
    admin = await make_user(None, (), role="admin")

    refused = await client.get("/api/tokens/admin/reconciliation", headers=user.headers())
    allowed = await client.get("/api/tokens/admin/reconciliation", headers=admin.headers())
    jobs = await client.get("/api/tokens/admin/jobs", headers=admin.headers())
    jobs_refused = await client.get("/api/tokens/admin/jobs", headers=user.headers())

    assert (refused.status_code, jobs_refused.status_code) == (403, 403)
    assert (allowed.status_code, jobs.status_code) == (200, 200)
    assert isinstance(allowed.json()["items"], list)
