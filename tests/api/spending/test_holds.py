"""Holds over HTTP against real PostgreSQL: reserve, capture (all or part), release, expire;
spends and holds competing for one wallet never overdraw it; every command is idempotent; a
capture and an expiry of one hold never both happen."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import text

from db.holds import expire_hold, holds_due
from tests.api.helpers import Maker, MakeUser
from tests.api.spending.conftest import FundOrganization, LiveApi, MakeApiKey
from tests.api.spending.test_inactive_organization import set_active


def holds_url(org: int) -> str:
    return f"/api/tokens/wallet/{org}/holds"


async def hold(
    client: httpx.AsyncClient, org: int, amount: Any = "1", *, key: str | None = None, **body: Any
) -> httpx.Response:
    return await client.post(
        holds_url(org),
        json={"amount": amount, **body},
        headers={"Idempotency-Key": key or uuid.uuid4().hex},
    )


async def spend(client: httpx.AsyncClient, org: int, amount: str = "1") -> httpx.Response:
    return await client.post(
        f"/api/tokens/wallet/{org}/consume",
        json={"amount": amount, "reason": "claim review"},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )


async def books(session_maker: Maker, org: int) -> dict[str, Decimal]:
    """The wallet's cached figures and what its ledger accounts and lots say."""
    async with session_maker() as session:
        row = (
            await session.execute(
                text(
                    "SELECT w.current_balance, w.held_balance, w.total_consumed, "
                    "(SELECT coalesce(sum(e.amount), 0) FROM ledger_entries e "
                    "  WHERE e.account_id = w.ledger_account_id) AS wallet_entries, "
                    "(SELECT coalesce(sum(e.amount), 0) FROM ledger_entries e "
                    "  JOIN ledger_accounts a ON a.id = e.account_id "
                    "  WHERE a.code = 'held:org-' || w.organization_id) AS held_entries, "
                    "(SELECT coalesce(sum(l.remaining_amount), 0) FROM token_lots l "
                    "  WHERE l.wallet_id = w.id) AS lots, "
                    "(SELECT coalesce(sum(h.amount), 0) FROM token_holds h "
                    "  WHERE h.organization_id = w.organization_id AND h.status = 'active') "
                    "  AS active_holds "
                    "FROM organization_token_wallets w WHERE w.organization_id = :o"
                ),
                {"o": org},
            )
        ).one()
    return dict(row._mapping)


def assert_books_agree(figures: dict[str, Decimal]) -> None:
    assert figures["wallet_entries"] == figures["current_balance"]
    assert figures["held_entries"] == figures["held_balance"] == figures["active_holds"]
    assert figures["lots"] == figures["current_balance"] + figures["held_balance"]
    assert figures["current_balance"] >= 0 and figures["held_balance"] >= 0


async def test_concurrent_spends_and_holds_on_one_wallet_take_exactly_the_balance(
    live_api: LiveApi, fund: FundOrganization, make_api_key: MakeApiKey, session_maker: Maker
):
    org = await fund("50")
    async with live_api.client(await make_api_key(org)) as client:
        answers = await asyncio.gather(
            *(hold(client, org) if n % 2 else spend(client, org) for n in range(120))
        )
    statuses = [a.status_code for a in answers]
    assert statuses.count(201) == 50 and statuses.count(409) == 70
    refused = [a.json()["error"]["code"] for a in answers if a.status_code == 409]
    assert set(refused) == {"insufficient_balance"}
    holds_made = sum(1 for n, a in enumerate(answers) if n % 2 and a.status_code == 201)
    figures = await books(session_maker, org)
    assert figures["current_balance"] == 0
    assert figures["held_balance"] == holds_made
    assert_books_agree(figures)


async def test_the_same_hold_request_twice_holds_once_and_another_body_is_refused(
    live_api: LiveApi, fund: FundOrganization, make_api_key: MakeApiKey, session_maker: Maker
):
    org = await fund("100")
    async with live_api.client(await make_api_key(org)) as client:
        first = await hold(client, org, "30", key="claim-7", reference="claim-7", ttl="PT10M")
        again = await hold(client, org, "30", key="claim-7", reference="claim-7", ttl="PT10M")
        other = await hold(client, org, "31", key="claim-7", reference="claim-7", ttl="PT10M")
    assert first.status_code == 201 and again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["hold_id"] == first.json()["hold_id"]
    assert first.json()["balance"] == "70" and first.json()["held"] == "30"
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    figures = await books(session_maker, org)
    assert figures["held_balance"] == 30 and figures["current_balance"] == 70
    assert_books_agree(figures)


async def test_a_hold_larger_than_the_available_amount_is_refused_and_writes_nothing(
    live_api: LiveApi, fund: FundOrganization, make_api_key: MakeApiKey, session_maker: Maker
):
    org = await fund("10")
    async with live_api.client(await make_api_key(org)) as client:
        taken = await hold(client, org, "8")
        refused = await hold(client, org, "3")
    assert taken.status_code == 201
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "insufficient_balance"
    assert refused.json()["error"]["details"]["available"] == "2"
    figures = await books(session_maker, org)
    assert figures["held_balance"] == 8 and figures["current_balance"] == 2


async def read_hold(live_api: LiveApi, make_user: MakeUser, org: int, hold_id: int) -> Any:
    """The hold as GET answers it to a user with tokens.view (reading is not a spend)."""
    viewer = await make_user(org, ("tokens.view",))
    async with live_api.client(viewer.token) as client:
        return (await client.get(f"{holds_url(org)}/{hold_id}")).json()


async def test_partial_capture_consumes_part_draws_lots_and_releases_the_rest(
    live_api: LiveApi,
    fund: FundOrganization,
    make_api_key: MakeApiKey,
    make_user: MakeUser,
    session_maker: Maker,
):
    soon = datetime.now(UTC) + timedelta(days=30)
    org = await fund(("20", soon), "80")
    async with live_api.client(await make_api_key(org)) as client:
        made = (await hold(client, org, "30", reason="model call")).json()
        url = f"{holds_url(org)}/{made['hold_id']}"
        captured = await client.post(f"{url}/capture", json={"amount": "12.5"})
        again = await client.post(f"{url}/capture", json={"amount": "12.5"})
        other_amount = await client.post(f"{url}/capture", json={"amount": "13"})
        released = await client.post(f"{url}/release")
    read = await read_hold(live_api, make_user, org, made["hold_id"])
    assert captured.status_code == 200, captured.text
    body = captured.json()
    assert body["status"] == "captured"
    assert (body["captured_amount"], body["released_amount"]) == ("12.5", "17.5")
    assert (body["balance"], body["held"]) == ("87.5", "0")
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert other_amount.status_code == 409
    assert other_amount.json()["error"]["code"] == "hold_not_active"
    assert released.status_code == 409
    assert read["status"] == "captured" and read["reason"] == "model call"
    figures = await books(session_maker, org)
    assert figures["total_consumed"] == Decimal("12.5")
    assert_books_agree(figures)
    async with session_maker() as session:
        lots = (
            await session.execute(
                text(
                    "SELECT l.remaining_amount FROM token_lots l JOIN organization_token_wallets "
                    "w ON w.id = l.wallet_id WHERE w.organization_id = :o ORDER BY l.id"
                ),
                {"o": org},
            )
        ).scalars()
        assert list(lots) == [Decimal("7.5"), Decimal("80")]  # the lot expiring first first
        kinds = (
            await session.execute(
                text(
                    "SELECT change_type, change_amount FROM token_balance_history "
                    "WHERE organization_id = :o ORDER BY id"
                ),
                {"o": org},
            )
        ).all()
        assert [(k, a) for k, a in kinds][-3:] == [
            ("hold", Decimal(-30)), ("hold_capture", Decimal("-12.5")),
            ("hold_release", Decimal("17.5")),
        ]  # fmt: skip
        actions = (
            await session.execute(
                text(
                    "SELECT action FROM token_audit_logs WHERE organization_id = :o "
                    "AND action LIKE 'tokens.hold%' ORDER BY id"
                ),
                {"o": org},
            )
        ).scalars()
        assert list(actions) == ["tokens.hold", "tokens.hold.capture"]


async def test_capture_more_than_held_is_refused_and_changes_nothing(
    live_api: LiveApi, fund: FundOrganization, make_api_key: MakeApiKey, session_maker: Maker
):
    org = await fund("100")
    async with live_api.client(await make_api_key(org)) as client:
        made = (await hold(client, org, "10")).json()
        refused = await client.post(
            f"{holds_url(org)}/{made['hold_id']}/capture", json={"amount": "10.0001"}
        )
        missing = await client.post(f"{holds_url(org)}/999999999/capture")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "capture_exceeds_hold"
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "hold_not_found"
    figures = await books(session_maker, org)
    assert figures["held_balance"] == 10 and figures["total_consumed"] == 0


async def test_release_twice_returns_the_tokens_once(
    live_api: LiveApi, fund: FundOrganization, make_api_key: MakeApiKey, session_maker: Maker
):
    org = await fund("40")
    async with live_api.client(await make_api_key(org)) as client:
        made = (await hold(client, org, "25")).json()
        url = f"{holds_url(org)}/{made['hold_id']}"
        first, second = await asyncio.gather(
            client.post(f"{url}/release"), client.post(f"{url}/release")
        )
        capture = await client.post(f"{url}/capture")
    assert {first.status_code, second.status_code} == {200}
    replayed = {answer.headers.get("Idempotent-Replayed") for answer in (first, second)}
    assert replayed == {None, "true"}
    assert capture.status_code == 409 and capture.json()["error"]["code"] == "hold_not_active"
    figures = await books(session_maker, org)
    assert figures["current_balance"] == 40 and figures["held_balance"] == 0
    assert_books_agree(figures)


async def test_expiry_releases_a_hold_once_and_a_late_capture_is_refused(
    live_api: LiveApi,
    fund: FundOrganization,
    make_api_key: MakeApiKey,
    make_user: MakeUser,
    session_maker: Maker,
):
    org = await fund("40")
    async with live_api.client(await make_api_key(org)) as client:
        made = (await hold(client, org, "15", ttl="PT1S")).json()
        await _wait_past(made["expires_at"])
        late = await client.post(f"{holds_url(org)}/{made['hold_id']}/capture")
        async with session_maker() as session, session.begin():
            assert (org, made["hold_id"]) in await holds_due(session, 10_000)
            assert await expire_hold(session, org, made["hold_id"]) is True
        async with session_maker() as session, session.begin():
            assert await expire_hold(session, org, made["hold_id"]) is False
        read = await read_hold(live_api, make_user, org, made["hold_id"])
        release = await client.post(f"{holds_url(org)}/{made['hold_id']}/release")
    assert late.status_code == 409 and late.json()["error"]["code"] == "hold_expired"
    assert read["status"] == "expired" and read["released_amount"] == "15"
    assert release.status_code == 200  # released already: the tokens are back
    figures = await books(session_maker, org)
    assert figures["current_balance"] == 40 and figures["held_balance"] == 0
    assert_books_agree(figures)


async def test_capture_and_expiry_racing_on_many_holds_settle_each_exactly_once(
    live_api: LiveApi,
    fund: FundOrganization,
    make_api_key: MakeApiKey,
    make_user: MakeUser,
    session_maker: Maker,
):
    org = await fund("1000")
    async with live_api.client(await make_api_key(org)) as client:
        made = [(await hold(client, org, "10", ttl="PT2S")).json() for _ in range(20)]
        await _wait_past_seconds(made[0]["expires_at"], -0.3)

        async def expire_all() -> None:
            for hold_made in made:
                async with session_maker() as session, session.begin():
                    await expire_hold(session, org, hold_made["hold_id"])

        async def capture_all() -> list[httpx.Response]:
            return await asyncio.gather(
                *(client.post(f"{holds_url(org)}/{m['hold_id']}/capture") for m in made)
            )

        captures, *_ = await asyncio.gather(capture_all(), expire_all(), expire_all())
        await _wait_past(made[-1]["expires_at"])
        await expire_all()
    final = [await read_hold(live_api, make_user, org, m["hold_id"]) for m in made]
    for answer, settled in zip(captures, final, strict=True):
        if answer.status_code == 200:
            assert settled["status"] == "captured" and settled["released_amount"] == "0"
        else:
            assert answer.json()["error"]["code"] in {"hold_expired", "hold_not_active"}
            assert settled["status"] == "expired" and settled["captured_amount"] == "0"
    captured = sum(1 for s in final if s["status"] == "captured")
    figures = await books(session_maker, org)
    assert figures["total_consumed"] == 10 * captured
    assert figures["current_balance"] == 1000 - 10 * captured
    assert_books_agree(figures)


async def test_batch_capture_answers_each_item_in_order(
    live_api: LiveApi, fund: FundOrganization, make_api_key: MakeApiKey, session_maker: Maker
):
    first_org, second_org = await fund("100"), await fund("100")
    async with live_api.client(await make_api_key()) as client:
        a = (await hold(client, first_org, "10")).json()
        b = (await hold(client, second_org, "20")).json()
        c = (await hold(client, first_org, "5")).json()
        items = [
            {"organization_id": second_org, "hold_id": b["hold_id"], "amount": "15"},
            {"organization_id": first_org, "hold_id": a["hold_id"]},
            {"organization_id": first_org, "hold_id": c["hold_id"], "amount": "6"},
            {"organization_id": first_org, "hold_id": b["hold_id"]},
        ]
        answer = await client.post("/api/tokens/holds/captures", json={"items": items})
        again = await client.post("/api/tokens/holds/captures", json={"items": items[:2]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["applied"], body["replayed"], body["failed"]) == (2, 0, 2)
    assert [i["status"] for i in body["items"]] == ["applied", "applied", "failed", "failed"]
    assert body["items"][0]["hold"]["captured_amount"] == "15"
    assert body["items"][0]["hold"]["released_amount"] == "5"
    assert body["items"][2]["error"]["code"] == "capture_exceeds_hold"
    assert body["items"][3]["error"]["code"] == "hold_not_found"
    assert again.json()["replayed"] == 2
    first, second = await books(session_maker, first_org), await books(session_maker, second_org)
    assert (first["total_consumed"], first["held_balance"]) == (Decimal(10), Decimal(5))
    assert (second["total_consumed"], second["current_balance"]) == (Decimal(15), Decimal(85))
    assert_books_agree(first)
    assert_books_agree(second)


async def test_holds_are_listed_by_status_and_read_with_tokens_view_only(
    live_api: LiveApi, fund: FundOrganization, make_api_key: MakeApiKey, make_user: MakeUser
):
    org = await fund("100")
    viewer = await make_user(org, ("tokens.view",))
    async with live_api.client(await make_api_key(org)) as client:
        kept = (await hold(client, org, "1", reference="kept")).json()
        gone = (await hold(client, org, "2")).json()
        await client.post(f"{holds_url(org)}/{gone['hold_id']}/release")
    async with live_api.client(viewer.token) as client:
        active = (await client.get(holds_url(org), params={"status": "active"})).json()
        every = (await client.get(holds_url(org), params={"limit": 1})).json()
        refused = await hold(client, org, "1")
        wallet = (await client.get(f"/api/tokens/wallet/{org}")).json()
    assert [h["hold_id"] for h in active["items"]] == [kept["hold_id"]]
    assert every["total"] == 2 and len(every["items"]) == 1
    assert refused.status_code == 403
    assert (wallet["current_balance"], wallet["held_balance"]) == ("99", "1")
    assert wallet["available_balance"] == "99"


async def test_a_hold_expiry_beyond_the_longest_is_refused(
    live_api: LiveApi, fund: FundOrganization, make_api_key: MakeApiKey
):
    org = await fund("100")
    async with live_api.client(await make_api_key(org)) as client:
        too_long = await hold(client, org, "1", ttl="P8D")
        past = await hold(client, org, "1", expires_at="2020-01-01T00:00:00Z")
        both = await hold(client, org, "1", ttl="PT1M", expires_at="2099-01-01T00:00:00Z")
    for answer in (too_long, past, both):
        assert answer.status_code == 422
        assert answer.json()["error"]["code"] == "invalid_hold_expiry"


async def _wait_past(instant: str) -> None:
    await _wait_past_seconds(instant, 0.05)


async def _wait_past_seconds(instant: str, margin: float) -> None:
    """Sleep until `margin` seconds after the instant (before it when negative)."""
    moment = datetime.fromisoformat(instant) + timedelta(seconds=margin)
    await asyncio.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()))


async def test_a_deactivated_organization_holds_and_captures_nothing_but_may_release(
    live_api: LiveApi, fund: FundOrganization, make_api_key: MakeApiKey, session_maker: Maker
):
    org = await fund("100")
    async with live_api.client(await make_api_key(org)) as client:
        kept = (await hold(client, org, "10")).json()
        freed = (await hold(client, org, "20")).json()
        await set_active(session_maker, org, False)
        refused_hold = await hold(client, org, "1")
        refused_capture = await client.post(f"{holds_url(org)}/{kept['hold_id']}/capture")
        released = await client.post(f"{holds_url(org)}/{freed['hold_id']}/release")
        await set_active(session_maker, org, True)
    for refused in (refused_hold, refused_capture):
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "organization_inactive"
    assert released.status_code == 200 and released.json()["status"] == "released"
    figures = await books(session_maker, org)
    assert (figures["current_balance"], figures["held_balance"]) == (Decimal(90), Decimal(10))
    assert figures["total_consumed"] == 0


async def test_racing_holds_and_spends_alert_exactly_once_per_threshold_crossing(
    live_api: LiveApi, fund: FundOrganization, make_api_key: MakeApiKey, session_maker: Maker
):
    """Holds lower the available balance as spends do (0024): whichever of them takes it under a
    threshold records that crossing's one notification and outbox event."""
    org = await fund("200")
    async with session_maker() as session, session.begin():
        await session.execute(
            text(
                "UPDATE organization_token_wallets SET low_balance_threshold = 150, "
                "critical_balance_threshold = 50 WHERE organization_id = :o"
            ),
            {"o": org},
        )
    async with live_api.client(await make_api_key(org)) as client:
        answers = await asyncio.gather(
            *(hold(client, org, "7") if n % 2 else spend(client, org, "7") for n in range(40))
        )

    assert {a.status_code for a in answers} <= {200, 201, 409}
    async with session_maker() as session:
        crossings = (
            await session.execute(
                text(
                    "SELECT h.change_type, x.level, n.id AS notification "
                    "FROM token_balance_history h "
                    "CROSS JOIN (VALUES ('low', 150), ('critical', 50)) AS x(level, threshold) "
                    "LEFT JOIN notification_events e ON e.organization_id = h.organization_id "
                    " AND e.idempotency_key = 'balance_' || x.level || ':' || h.wallet_id || ':' "
                    "  || h.transaction_id "
                    "LEFT JOIN low_balance_notifications n "
                    " ON n.organization_id = h.organization_id "
                    " AND n.id = (e.payload ->> 'notification_id')::bigint "
                    "WHERE h.organization_id = :o AND h.balance_before >= x.threshold "
                    " AND x.threshold > h.balance_after"
                ),
                {"o": org},
            )
        ).all()
        recorded = await session.scalar(
            text("SELECT count(*) FROM low_balance_notifications WHERE organization_id = :o"),
            {"o": org},
        )
    # The balance only falls here: each threshold is crossed once, by a hold or a spend.
    assert sorted(c.level for c in crossings) == ["critical", "low"]
    assert all(c.notification is not None for c in crossings)
    assert {c.change_type for c in crossings} <= {"hold", "consumption"}
    assert recorded == 2
    assert_books_agree(await books(session_maker, org))
