"""Captured holds count against spend limits, over HTTP with the real database: a capture that
would cross a hard cap is refused like a spend (409 spend_limit_reached, the hold stays active),
a per-key cap counts the captures of holds its key placed, a soft cap notifies once, releases
and expiries count nothing, batches refuse item by item, and concurrent captures and spends
never pass a hard cap."""

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import text

from db.holds import expire_hold
from tests.api.helpers import Maker, MakeUser, count_rows
from tests.api.spending.conftest import FundOrganization, LiveApi, MakeApiKey
from tests.api.spending.test_holds import (
    _wait_past,
    assert_books_agree,
    books,
    hold,
    holds_url,
    read_hold,
    spend,
)
from tests.api.spending.test_spend_limits import key_id, limit, set_limits
from workflows.outbox_types import SPEND_LIMIT_REACHED


async def capture(
    client: httpx.AsyncClient, org: int, hold_id: int, amount: str | None = None
) -> httpx.Response:
    body: dict[str, Any] | None = None if amount is None else {"amount": amount}
    return await client.post(f"{holds_url(org)}/{hold_id}/capture", json=body)


async def used(session_maker: Maker, org: int) -> dict[int | None, Decimal]:
    """This period's usage of each of the organization's limits, by its key (None: the org)."""
    async with session_maker() as session:
        rows = await session.execute(
            text(
                "SELECT l.api_key_id, u.used FROM spend_limit_usage u JOIN spend_limits l "
                "ON l.organization_id = u.organization_id AND l.id = u.limit_id "
                "WHERE u.organization_id = :org "
                "AND u.period_start = spend_limit_period_start(l.period, now())"
            ),
            {"org": org},
        )
    return {row.api_key_id: row.used for row in rows}


async def test_capture_crossing_a_hard_day_cap_is_refused_and_the_hold_stays_active(
    live_api: LiveApi,
    api: httpx.AsyncClient,
    fund: FundOrganization,
    make_api_key: MakeApiKey,
    make_user: MakeUser,
    session_maker: Maker,
) -> None:
    org = await fund("1000")
    await set_limits(api, make_user, org, limit("day", "100"))
    async with live_api.client(await make_api_key(org)) as client:
        assert (await spend(client, org, "70")).status_code == 201
        made = (await hold(client, org, "50")).json()
        refused = await capture(client, org, made["hold_id"])
        still = await read_hold(live_api, make_user, org, made["hold_id"])
        smaller = await capture(client, org, made["hold_id"], "30")
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "spend_limit_reached"
    details = error["details"]
    shown = ("organization_id", "scope", "api_key_id", "period", "cap", "used", "requested")
    assert {k: details[k] for k in shown} == {
        "organization_id": org, "scope": "organization", "api_key_id": None, "period": "day",
        "cap": "100", "used": "70", "requested": "50",
    }  # fmt: skip
    today = datetime.now(UTC)
    midnight = datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1)
    assert datetime.fromisoformat(details["resets_at"]) == midnight
    assert midnight.isoformat() in error["message"]
    assert still["status"] == "active" and still["captured_amount"] == "0"
    assert smaller.status_code == 200, smaller.text
    assert smaller.json()["captured_amount"] == "30"
    assert smaller.json()["released_amount"] == "20"
    assert await used(session_maker, org) == {None: Decimal(100)}
    figures = await books(session_maker, org)
    assert figures["total_consumed"] == 100 and figures["held_balance"] == 0
    assert_books_agree(figures)


async def test_per_key_cap_counts_only_captures_of_holds_its_key_placed(
    live_api: LiveApi,
    api: httpx.AsyncClient,
    fund: FundOrganization,
    make_api_key: MakeApiKey,
    make_user: MakeUser,
    session_maker: Maker,
) -> None:
    org = await fund("1000")
    capped_secret, other_secret = await make_api_key(org), await make_api_key(org)
    capped = await key_id(session_maker, capped_secret)
    await set_limits(api, make_user, org, limit("month", "10", api_key_id=capped))
    async with live_api.client(capped_secret) as capped_client:
        own_first = (await hold(capped_client, org, "8")).json()
        own_second = (await hold(capped_client, org, "5")).json()
    async with live_api.client(other_secret) as other_client:
        others = (await hold(other_client, org, "40")).json()
        # The key that placed the hold is what counts, not the one capturing it.
        other_captures_own = await capture(other_client, org, own_first["hold_id"])
    async with live_api.client(capped_secret) as capped_client:
        capped_captures_others = await capture(capped_client, org, others["hold_id"])
        refused = await capture(capped_client, org, own_second["hold_id"])
        within = await capture(capped_client, org, own_second["hold_id"], "2")
    assert other_captures_own.status_code == 200, other_captures_own.text
    assert capped_captures_others.status_code == 200, capped_captures_others.text
    assert refused.status_code == 409
    details = refused.json()["error"]["details"]
    assert (details["scope"], details["api_key_id"], details["used"]) == ("api_key", capped, "8")
    assert within.status_code == 200, within.text
    assert await used(session_maker, org) == {capped: Decimal(10)}


async def test_soft_cap_lets_captures_through_and_notifies_once(
    live_api: LiveApi,
    api: httpx.AsyncClient,
    fund: FundOrganization,
    make_api_key: MakeApiKey,
    make_user: MakeUser,
    session_maker: Maker,
) -> None:
    org = await fund("1000")
    await set_limits(api, make_user, org, limit("day", "20", mode="soft"))
    async with live_api.client(await make_api_key(org)) as client:
        made = [(await hold(client, org, "9")).json() for _ in range(4)]
        answers = [await capture(client, org, m["hold_id"]) for m in made[:2]]
        answers += await asyncio.gather(*(capture(client, org, m["hold_id"]) for m in made[2:]))
    assert [a.status_code for a in answers] == [200] * 4
    where = f"organization_id = :org AND event_type = '{SPEND_LIMIT_REACHED}'"
    assert await count_rows(session_maker, "notification_events", where, org=org) == 1
    assert await used(session_maker, org) == {None: Decimal(36)}


async def test_release_and_expiry_count_nothing_against_limits(
    live_api: LiveApi,
    api: httpx.AsyncClient,
    fund: FundOrganization,
    make_api_key: MakeApiKey,
    make_user: MakeUser,
    session_maker: Maker,
) -> None:
    org = await fund("1000")
    await set_limits(api, make_user, org, limit("day", "10"))
    async with live_api.client(await make_api_key(org)) as client:
        released = (await hold(client, org, "10")).json()
        expiring = (await hold(client, org, "10", ttl="PT1S")).json()
        assert (await client.post(f"{holds_url(org)}/{released['hold_id']}/release")).is_success
        await _wait_past(expiring["expires_at"])
        async with session_maker() as session, session.begin():
            assert await expire_hold(session, org, expiring["hold_id"]) is True
        full_cap = await spend(client, org, "10")
    assert full_cap.status_code == 201, full_cap.text
    assert await used(session_maker, org) == {None: Decimal(10)}


async def test_batch_capture_refuses_the_item_that_would_cross_a_hard_cap(
    live_api: LiveApi,
    api: httpx.AsyncClient,
    fund: FundOrganization,
    make_api_key: MakeApiKey,
    make_user: MakeUser,
    session_maker: Maker,
) -> None:
    org = await fund("1000")
    await set_limits(api, make_user, org, limit("day", "15"))
    async with live_api.client(await make_api_key(org)) as client:
        a, b, c = [(await hold(client, org, "10")).json() for _ in range(3)]
        items = [
            {"organization_id": org, "hold_id": a["hold_id"]},
            {"organization_id": org, "hold_id": b["hold_id"]},
            {"organization_id": org, "hold_id": c["hold_id"], "amount": "5"},
        ]
        answer = await client.post("/api/tokens/holds/captures", json={"items": items})
        still = await read_hold(live_api, make_user, org, b["hold_id"])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [i["status"] for i in body["items"]] == ["applied", "failed", "applied"]
    error = body["items"][1]["error"]
    assert error["code"] == "spend_limit_reached"
    assert (error["details"]["used"], error["details"]["requested"]) == ("10", "10")
    assert still["status"] == "active"
    assert await used(session_maker, org) == {None: Decimal(15)}


async def test_concurrent_captures_and_spends_never_pass_a_hard_cap(
    live_api: LiveApi,
    api: httpx.AsyncClient,
    fund: FundOrganization,
    make_api_key: MakeApiKey,
    make_user: MakeUser,
    session_maker: Maker,
) -> None:
    org = await fund("1000")
    await set_limits(api, make_user, org, limit("day", "50"))
    async with live_api.client(await make_api_key(org)) as client:
        made = [(await hold(client, org, "3")).json() for _ in range(20)]
        answers = await asyncio.gather(
            *(capture(client, org, m["hold_id"]) for m in made),
            *(spend(client, org, "1") for _ in range(30)),
        )
    assert {a.status_code for a in answers} <= {200, 201, 409}
    refused = [a for a in answers if a.status_code == 409]
    assert refused and all(a.json()["error"]["code"] == "spend_limit_reached" for a in refused)
    figures = await books(session_maker, org)
    assert figures["total_consumed"] <= 50
    assert await used(session_maker, org) == {None: figures["total_consumed"]}
    assert_books_agree(figures)
