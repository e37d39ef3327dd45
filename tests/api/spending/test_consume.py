"""POST /wallet/{organization_id}/consume over HTTP: never below zero under concurrency, replays,
lot order, alerts once per crossing, who may spend, and bad inputs that change nothing."""

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.api.helpers import Maker, MakeUser, count_rows
from tests.api.spending.conftest import FundOrganization, LiveApi, MakeApiKey


def consume_url(org: int) -> str:
    return f"/api/tokens/wallet/{org}/consume"


async def consume(
    client: httpx.AsyncClient,
    org: int,
    amount: Any = "1",
    *,
    key: str | None = None,
    reason: str = "claim review",
    **extra: Any,
) -> httpx.Response:
    return await client.post(
        consume_url(org),
        json={"amount": amount, "reason": reason, **extra},
        headers={"Idempotency-Key": key or uuid.uuid4().hex},
    )


async def balance_and_debits(session_maker: Maker, org: int) -> tuple[Decimal, int]:
    from sqlalchemy import text

    async with session_maker() as session:
        balance = await session.scalar(
            text(
                "SELECT current_balance FROM organization_token_wallets WHERE organization_id = :o"
            ),
            {"o": org},
        )
        debits = await session.scalar(
            text(
                "SELECT count(*) FROM token_balance_history WHERE organization_id = :o "
                "AND change_type = 'consumption'"
            ),
            {"o": org},
        )
    return Decimal(balance), int(debits or 0)


async def test_hundred_concurrent_spends_of_one_token_on_fifty_spend_exactly_fifty(
    live_api: LiveApi, fund: FundOrganization, make_api_key: MakeApiKey, session_maker: Maker
):
    org = await fund("50")
    async with live_api.client(await make_api_key(org)) as client:
        answers = await asyncio.gather(*(consume(client, org) for _ in range(100)))
        history = await client.get(
            f"/api/tokens/wallet/{org}/history", params={"change_type": "consumption"}
        )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] * 50 + [409] * 50
    refused = [a.json()["error"] for a in answers if a.status_code == 409]
    assert {(e["code"], e["details"]["balance"], e["details"]["requested"]) for e in refused} == {
        ("insufficient_balance", "0", "1")
    }
    assert sorted(Decimal(a.json()["balance"]) for a in answers if a.status_code == 201) == [
        Decimal(n) for n in range(50)
    ]
    assert await balance_and_debits(session_maker, org) == (Decimal(0), 50)
    assert history.status_code == 401, "an API key spends; it does not read the history"


async def test_replayed_spend_answers_the_first_result_and_another_body_is_refused(
    api: httpx.AsyncClient, fund: FundOrganization, make_user: MakeUser, session_maker: Maker
):
    org = await fund("10")
    user = await make_user(org, ("tokens.consume",))
    api.headers.update(user.headers())
    first = await consume(api, org, "4", key="order-1", reference="claim-9")
    await consume(api, org, "1")
    replay = await consume(api, org, "4", key="order-1", reference="claim-9")
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert first.json()["balance"] == "6"
    assert first.json()["entry"]["reference"] == "claim-9"
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    reused = await consume(api, org, "5", key="order-1", reference="claim-9")
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert await balance_and_debits(session_maker, org) == (Decimal(5), 2)


async def test_spends_draw_the_first_to_expire_lot_first(
    api: httpx.AsyncClient, fund: FundOrganization, make_user: MakeUser, session_maker: Maker
):
    from sqlalchemy import text

    org = await fund(
        ("10", None),
        ("10", datetime(2031, 1, 1, tzinfo=UTC)),
        ("10", datetime(2030, 1, 1, tzinfo=UTC)),
    )
    api.headers.update((await make_user(org, ("tokens.consume",))).headers())
    assert (await consume(api, org, "15")).status_code == 201
    async with session_maker() as session:
        remaining = await session.scalar(
            text(
                "SELECT array_agg(l.remaining_amount::int ORDER BY l.id) FROM token_lots l "
                "JOIN organization_token_wallets w ON w.id = l.wallet_id "
                "WHERE w.organization_id = :o"
            ),
            {"o": org},
        )
    assert remaining == [10, 5, 0]


async def test_concurrent_spends_across_the_low_threshold_record_one_notification(
    live_api: LiveApi,
    fund: FundOrganization,
    make_api_key: MakeApiKey,
    make_user: MakeUser,
    session_maker: Maker,
):
    org = await fund("110")
    async with live_api.client(await make_api_key(org)) as client:
        answers = await asyncio.gather(*(consume(client, org, "1") for _ in range(40)))
    assert all(a.status_code == 201 for a in answers)
    assert (
        await count_rows(session_maker, "low_balance_notifications", "organization_id = :o", o=org)
        == 1
    )
    assert await count_rows(
        session_maker, "notification_events",
        "organization_id = :o AND event_type = 'wallet.balance_low'", o=org,
    ) == 1  # fmt: skip
    viewer = await make_user(org, ("tokens.view",))
    async with live_api.client(viewer.token) as client:
        feed = await client.get("/api/tokens/notifications", params={"organization_id": org})
        outbox_only = await client.get(
            "/api/tokens/notifications", params={"organization_id": org, "source": "outbox"}
        )
    assert feed.status_code == 200
    body = feed.json()
    assert body["total"] == 2
    assert {(i["source"], i["event_type"], i["payload"]["threshold"]) for i in body["items"]} == {
        ("low_balance", "wallet.balance_low", "100"),
        ("outbox", "wallet.balance_low", "100"),
    }
    assert [i["source"] for i in outbox_only.json()["items"]] == ["outbox"]


async def test_insufficient_balance_answers_409_with_the_balance_and_writes_nothing(
    api: httpx.AsyncClient, fund: FundOrganization, make_api_key: MakeApiKey, session_maker: Maker
):
    org = await fund("2.5")
    api.headers["Authorization"] = f"Bearer {await make_api_key(org)}"
    answer = await consume(api, org, "2.5001", key="big")
    assert answer.status_code == 409
    assert answer.json()["error"]["details"] == {
        "organization_id": org, "balance": "2.5", "requested": "2.5001",
    }  # fmt: skip
    assert await balance_and_debits(session_maker, org) == (Decimal("2.5"), 0)
    assert (await consume(api, org, "2.5", key="big")).status_code == 201, "the key stayed free"


async def test_users_spend_only_with_the_permission_and_for_their_own_organization(
    api: httpx.AsyncClient,
    fund: FundOrganization,
    make_user: MakeUser,
    admin: Any,
    session_maker: Maker,
):
    org, other = await fund("10"), await fund("10")
    viewer = await make_user(org, ("tokens.view", "tokens.purchase", "tokens.configure"))
    spender = await make_user(org, ("tokens.consume",))
    api.headers.update(viewer.headers(**{"X-Request-ID": "no-consume-" + uuid.uuid4().hex}))
    refused = await consume(api, org)
    assert refused.status_code == 403
    assert refused.json()["error"]["details"]["permission"] == "tokens.consume"
    api.headers.update(spender.headers())
    assert (await consume(api, other)).status_code == 403
    assert (await consume(api, org)).status_code == 201
    api.headers.update(admin.headers())
    assert (await consume(api, other)).status_code == 201
    assert (await consume(api, 2_000_000_000)).json()["error"]["code"] == "organization_not_found"
    denied = await count_rows(
        session_maker, "token_audit_logs",
        "action = 'access.denied' AND actor_id = :u AND organization_id = :o",
        u=str(spender.id), o=other,
    )  # fmt: skip
    assert denied == 1
    assert await balance_and_debits(session_maker, other) == (Decimal(9), 1)


async def test_each_applied_spend_is_audited_with_its_caller(
    api: httpx.AsyncClient, fund: FundOrganization, make_user: MakeUser, session_maker: Maker
):
    org = await fund("10")
    user = await make_user(org, ("tokens.consume",))
    api.headers.update(user.headers(**{"X-Request-ID": "audited-spend-" + str(org)}))
    await consume(api, org, "3", key="audited")
    await consume(api, org, "3", key="audited")
    rows = await count_rows(
        session_maker, "token_audit_logs",
        "action = 'tokens.consume' AND actor_type = 'user' AND actor_id = :u "
        "AND organization_id = :o AND request_id = :r",
        u=str(user.id), o=org, r=f"audited-spend-{org}",
    )  # fmt: skip
    assert rows == 1, "the replay moved nothing, so it wrote no second row"


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ({"amount": "0", "reason": "r"}, {}),
        ({"amount": "-1", "reason": "r"}, {}),
        ({"amount": "1.00001", "reason": "r"}, {}),
        ({"amount": "1000000000000000", "reason": "r"}, {}),
        ({"amount": "NaN", "reason": "r"}, {}),
        ({"amount": "abc", "reason": "r"}, {}),
        ({"amount": "1"}, {}),
        ({"amount": "1", "reason": " "}, {}),
        ({"amount": "1", "reason": "r", "extra": 1}, {}),
        ({"amount": "1", "reason": "r\x00"}, {}),
        ({"amount": "1", "reason": "r", "reference": "x" * 256}, {}),
        ({"amount": "1", "reason": "r"}, {"Idempotency-Key": ""}),
        ({"amount": "1", "reason": "r"}, {"Idempotency-Key": "has space"}),
        ({"amount": "1", "reason": "r"}, {"Idempotency-Key": "k" * 201}),
    ],
)
async def test_bad_spends_are_refused_with_4xx_and_change_nothing(
    api: httpx.AsyncClient,
    fund: FundOrganization,
    make_api_key: MakeApiKey,
    session_maker: Maker,
    body: dict[str, Any],
    headers: dict[str, str],
):
    org = await fund("5")
    api.headers["Authorization"] = f"Bearer {await make_api_key(org)}"
    answer = await api.post(
        consume_url(org), json=body, headers={"Idempotency-Key": "bad-input", **headers}
    )
    assert answer.status_code in (400, 422), answer.text
    assert answer.json()["error"]["code"] in (
        "validation_error", "idempotency_key_required", "invalid_idempotency_key",
    )  # fmt: skip
    assert await balance_and_debits(session_maker, org) == (Decimal(5), 0)


async def test_spending_without_an_idempotency_key_is_refused(
    api: httpx.AsyncClient, fund: FundOrganization, make_api_key: MakeApiKey
):
    org = await fund("5")
    api.headers["Authorization"] = f"Bearer {await make_api_key(org)}"
    answer = await api.post(consume_url(org), json={"amount": "1", "reason": "r"})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "idempotency_key_required"
