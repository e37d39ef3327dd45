"""Spend limits over HTTP with the real database: hard limits refuse the spend that would cross
them (saying which limit and when it resets), per-key limits affect only their key, concurrent
spends never pass a hard cap, soft limits notify once per period, replays keep their first
answer, batches are judged in arrival order, and only an organization's admins set them."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import text

from db.api_keys import hash_secret
from tests.api.helpers import Maker, MakeUser, count_rows
from tests.api.spending.conftest import FundOrganization, LiveApi, MakeApiKey
from workflows.outbox_types import SPEND_LIMIT_REACHED

CONFIGURE = ("tokens.view", "tokens.configure")


def limits_url(org: int) -> str:
    return f"/api/tokens/wallet/{org}/spend-limits"


def consume_url(org: int) -> str:
    return f"/api/tokens/wallet/{org}/consume"


def limit(
    period: str, cap: str, mode: str = "hard", api_key_id: int | None = None
) -> dict[str, Any]:
    scope = "organization" if api_key_id is None else "api_key"
    return {"scope": scope, "api_key_id": api_key_id, "period": period, "cap": cap, "mode": mode}


async def spend(
    client: httpx.AsyncClient, org: int, amount: str, key: str | None = None
) -> httpx.Response:
    headers = {"Idempotency-Key": key or uuid.uuid4().hex}
    body = {"amount": amount, "reason": "limit test"}
    return await client.post(consume_url(org), json=body, headers=headers)


async def key_id(session_maker: Maker, secret: str) -> int:
    async with session_maker() as session:
        found = await session.scalar(
            text("SELECT id FROM api_keys WHERE key_hash = :h"), {"h": hash_secret(secret)}
        )
    assert found is not None
    return int(found)


async def set_limits(
    api: httpx.AsyncClient, make_user: MakeUser, org: int, *limits: dict[str, Any]
) -> httpx.Response:
    admin = await make_user(org, CONFIGURE)
    answer = await api.put(limits_url(org), json={"limits": list(limits)}, headers=admin.headers())
    assert answer.status_code == 200, answer.text
    return answer


async def test_hard_day_limit_refuses_the_spend_that_would_cross_it_with_its_reset_time(
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
        first = await spend(client, org, "60")
        assert first.status_code == 201, first.text
        refused = await spend(client, org, "41")
        exact = await spend(client, org, "40")
        after = await spend(client, org, "0.0001")
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "spend_limit_reached"
    spent_at = datetime.fromisoformat(first.json()["entry"]["created_at"]).astimezone(UTC)
    next_midnight = datetime(spent_at.year, spent_at.month, spent_at.day, tzinfo=UTC) + timedelta(
        days=1
    )
    details = error["details"]
    shown = ("scope", "api_key_id", "period", "cap", "used", "requested")
    assert {k: details[k] for k in shown} == {
        "scope": "organization", "api_key_id": None, "period": "day", "cap": "100", "used": "60",
        "requested": "41",
    }  # fmt: skip
    assert datetime.fromisoformat(details["resets_at"]) == next_midnight
    assert next_midnight.isoformat() in error["message"] and "daily" in error["message"]
    assert exact.status_code == 201 and exact.json()["balance"] == "900"
    assert after.status_code == 409
    assert after.json()["error"]["details"]["used"] == "100"
    assert await count_rows(
        session_maker, "ledger_transactions t JOIN organization_token_wallets w "
        "ON w.id = t.wallet_id", "w.organization_id = :org AND t.kind = 'consumption'", org=org,
    ) == 2  # fmt: skip


async def test_per_key_month_limit_refuses_only_that_keys_spends(
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
    async with live_api.client(capped_secret) as client:
        assert (await spend(client, org, "10")).status_code == 201
        refused = await spend(client, org, "1")
    async with live_api.client(other_secret) as client:
        other = await spend(client, org, "50")
    assert refused.status_code == 409
    details = refused.json()["error"]["details"]
    assert (details["scope"], details["api_key_id"], details["period"]) == (
        "api_key",
        capped,
        "month",
    )
    assert datetime.fromisoformat(details["resets_at"]).day == 1
    assert other.status_code == 201 and other.json()["balance"] == "940"
    shown = (
        await api.get(limits_url(org), headers=(await make_user(org, CONFIGURE)).headers())
    ).json()
    assert [(x["scope"], x["api_key_id"], x["used"]) for x in shown["limits"]] == [
        ("api_key", capped, "10")
    ]


async def test_concurrent_spends_never_pass_a_hard_cap_and_reach_it_exactly(
    live_api: LiveApi,
    api: httpx.AsyncClient,
    fund: FundOrganization,
    make_api_key: MakeApiKey,
    make_user: MakeUser,
    session_maker: Maker,
) -> None:
    org = await fund("1000")
    await set_limits(api, make_user, org, limit("day", "37"), limit("month", "500"))
    async with live_api.client(await make_api_key(org)) as client:
        answers = await asyncio.gather(*(spend(client, org, "1") for _ in range(80)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(201) == 37 and statuses.count(409) == 43
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {
        "spend_limit_reached"
    }
    async with session_maker() as session:
        balance = await session.scalar(
            text(
                "SELECT current_balance FROM organization_token_wallets WHERE organization_id = :o"
            ),
            {"o": org},
        )
    assert balance == Decimal("963")
    shown = (
        await api.get(limits_url(org), headers=(await make_user(org, CONFIGURE)).headers())
    ).json()
    assert [(x["period"], x["used"]) for x in shown["limits"]] == [("day", "37"), ("month", "37")]


async def test_soft_limit_lets_spends_through_and_notifies_once_per_period(
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
        answers = [await spend(client, org, "9") for _ in range(2)]
        answers += await asyncio.gather(*(spend(client, org, "9") for _ in range(4)))
    assert [a.status_code for a in answers] == [201] * 6
    where = f"organization_id = :org AND event_type = '{SPEND_LIMIT_REACHED}'"
    assert await count_rows(session_maker, "notification_events", where, org=org) == 1
    async with session_maker() as session:
        payload = await session.scalar(
            text(f"SELECT payload FROM notification_events WHERE {where}"), {"org": org}
        )
    assert (payload["scope"], payload["period"], payload["mode"], payload["cap"]) == (
        "organization", "day", "soft", "20",
    )  # fmt: skip
    # The notice carries the period's use when it was recorded: 27 when the crossing spend went
    # alone; more when coalescing applied it in one transaction with others (counted together).
    assert Decimal(payload["used"]) in {Decimal(n) for n in ("27", "36", "45", "54")}


async def test_replay_after_the_cap_is_reached_answers_the_first_result(
    live_api: LiveApi,
    api: httpx.AsyncClient,
    fund: FundOrganization,
    make_api_key: MakeApiKey,
    make_user: MakeUser,
) -> None:
    org = await fund("100")
    await set_limits(api, make_user, org, limit("day", "10"))
    async with live_api.client(await make_api_key(org)) as client:
        first = await spend(client, org, "10", key="the-one")
        refused = await spend(client, org, "1")
        replay = await spend(client, org, "10", key="the-one")
    assert first.status_code == 201 and refused.status_code == 409
    assert replay.status_code == 201
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == first.json()


async def test_batch_items_are_judged_in_arrival_order(
    live_api: LiveApi,
    api: httpx.AsyncClient,
    fund: FundOrganization,
    make_api_key: MakeApiKey,
    make_user: MakeUser,
) -> None:
    capped, free, poor = await fund("1000"), await fund("1000"), await fund("30")
    await set_limits(api, make_user, capped, limit("day", "10"))
    await set_limits(api, make_user, poor, limit("month", "50"))

    def item(org: int, amount: str, key: str) -> dict[str, Any]:
        return {"organization_id": org, "amount": amount, "idempotency_key": key, "reason": "b"}

    items = [
        item(capped, "6", "a"), item(free, "6", "b"), item(capped, "6", "c"),
        item(capped, "4", "d"), item(poor, "40", "e"), item(poor, "30", "f"),
        item(capped, "6", "a"),
    ]  # fmt: skip
    async with live_api.client(await make_api_key()) as client:
        answer = await client.post("/api/tokens/consumptions", json={"items": items})
        again = await client.post("/api/tokens/consumptions", json={"items": items})
    assert answer.status_code == 200, answer.text
    got = [(i["status"], (i["error"] or {}).get("code")) for i in answer.json()["items"]]
    assert got == [
        ("applied", None), ("applied", None), ("failed", "spend_limit_reached"),
        ("applied", None), ("failed", "insufficient_balance"), ("failed", "spend_limit_reached"),
        ("replayed", None),
    ]  # fmt: skip
    assert answer.json()["items"][2]["error"]["details"]["used"] == "6"
    # The conservative edge: the limit pass counted item 4 before the balance refused it, so
    # item 5 found the month limit full; nothing of either is counted afterwards.
    assert answer.json()["items"][5]["error"]["details"]["used"] == "40"
    # Sent again: the applied items replay; the refused ones are judged again, and refused.
    assert [(i["status"], (i["error"] or {}).get("code")) for i in again.json()["items"]] == [
        ("replayed", None), ("replayed", None), ("failed", "spend_limit_reached"),
        ("replayed", None), ("failed", "insufficient_balance"), ("failed", "spend_limit_reached"),
        ("replayed", None),
    ]  # fmt: skip
    shown = [
        (
            await api.get(limits_url(org), headers=(await make_user(org, CONFIGURE)).headers())
        ).json()["limits"][0]["used"]
        for org in (capped, poor)
    ]
    assert shown == ["10", "0"]


async def test_only_the_organizations_configurers_and_admins_set_limits(
    api: httpx.AsyncClient,
    fund: FundOrganization,
    make_user: MakeUser,
    session_maker: Maker,
    make_api_key: MakeApiKey,
) -> None:
    org, other = await fund("10"), await fund("10")
    body = {"limits": [limit("day", "5")]}
    viewer = await make_user(org, ("tokens.view",))
    stranger = await make_user(other, CONFIGURE)
    admin = await make_user(None, (), role="admin")
    assert (await api.put(limits_url(org), json=body, headers=viewer.headers())).status_code == 403
    assert (await api.get(limits_url(org), headers=viewer.headers())).status_code == 403
    assert (
        await api.put(limits_url(org), json=body, headers=stranger.headers())
    ).status_code == 403
    assert (await api.delete(limits_url(org), headers=stranger.headers())).status_code == 403
    assert await count_rows(session_maker, "spend_limits", "organization_id = :org", org=org) == 0
    put = await api.put(limits_url(org), json=body, headers=admin.headers())
    assert put.status_code == 200, put.text
    assert await count_rows(
        session_maker, "token_audit_logs",
        "organization_id = :org AND action = 'wallet.spend_limits_update'", org=org,
    ) == 1  # fmt: skip
    foreign_key = await key_id(session_maker, await make_api_key(other))
    wrong = await api.put(
        limits_url(org), json={"limits": [limit("day", "5", api_key_id=foreign_key)]},
        headers=admin.headers(),
    )  # fmt: skip
    twice = await api.put(
        limits_url(org), json={"limits": [limit("day", "5"), limit("day", "6", "soft")]},
        headers=admin.headers(),
    )  # fmt: skip
    unnamed = await api.put(
        limits_url(org), json={"limits": [{**limit("day", "5"), "scope": "api_key"}]},
        headers=admin.headers(),
    )  # fmt: skip
    assert [r.status_code for r in (wrong, twice, unnamed)] == [422, 422, 422]
    deleted = await api.delete(limits_url(org), headers=admin.headers())
    assert deleted.status_code == 204
    assert await count_rows(session_maker, "spend_limits", "organization_id = :org", org=org) == 0


async def test_concurrent_batches_and_single_spends_share_hard_caps_exactly(
    live_api: LiveApi,
    api: httpx.AsyncClient,
    fund: FundOrganization,
    make_api_key: MakeApiKey,
    make_user: MakeUser,
    session_maker: Maker,
) -> None:
    orgs = [await fund("1000") for _ in range(3)]
    for org in orgs:
        await set_limits(api, make_user, org, limit("day", "40"))

    def batch(number: int) -> dict[str, Any]:
        ordered = orgs if number % 2 else list(reversed(orgs))
        return {"items": [
            {"organization_id": org, "amount": "1", "idempotency_key": f"b{number}-{n}-{org}",
             "reason": "b"}
            for n in range(3) for org in ordered
        ]}  # fmt: skip

    async with live_api.client(await make_api_key()) as client:
        batches = [client.post("/api/tokens/consumptions", json=batch(n)) for n in range(12)]
        singles = [spend(client, org, "1") for org in orgs for _ in range(8)]
        answers = await asyncio.gather(*batches, *singles)
    assert all(a.status_code in (200, 201, 409) for a in answers), [a.text for a in answers]
    for org in orgs:
        async with session_maker() as session:
            spent = await session.scalar(
                text(
                    "SELECT total_consumed FROM organization_token_wallets "
                    "WHERE organization_id = :o"
                ),
                {"o": org},
            )
        assert spent == Decimal(40)
