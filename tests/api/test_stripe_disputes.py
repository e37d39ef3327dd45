"""A dispute on a purchase's charge freezes exactly the disputed tokens (a ledger transfer to
system:dispute_frozen) until an admin releases them to the wallet or forfeits them."""

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import text

from db.api_keys import create_api_key
from db.audit import Actor
from db.reconciliation import check_wallets, use_one_snapshot
from tests.api.helpers import ApiUser, MakePackage, Maker, count_rows, new_key
from tests.api.stripe_helpers import (
    PaidPurchase,
    account_total,
    deliver,
    emitted,
    paid_purchase,
    standin,
    stripe_api,
    stripe_settings,
    wallet_balance,
)
from tokenbill.devstack.stripe_standin.server import StandinServer

__all__ = ["standin", "stripe_api", "stripe_settings"]
MakeOrganization = Callable[..., Awaitable[int]]


async def _dispute(
    client: httpx.AsyncClient, standin: StandinServer, purchase: PaidPurchase, amount: int
) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=standin.url) as raw:
        opened = await raw.post(
            f"/_standin/charges/{purchase.charge}/dispute", params={"amount": str(amount)}
        )
    dispute = opened.json()
    answer = await deliver(client, emitted(standin, "charge.dispute.created", dispute["id"]))
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "tokens_frozen"
    return dict(dispute)


async def _dispute_row(client: httpx.AsyncClient, admin: ApiUser, stripe_id: str) -> dict[str, Any]:
    listed = await client.get(
        "/api/tokens/admin/disputes", params={"limit": 100}, headers=admin.headers()
    )
    return next(d for d in listed.json()["items"] if d["stripe_dispute_id"] == stripe_id)


async def _spend(client: httpx.AsyncClient, key: str, org: int, amount: str) -> httpx.Response:
    return await client.post(
        f"/api/tokens/wallet/{org}/consume",
        json={"amount": amount, "reason": "platform use"},
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": new_key()},
    )


async def _consume_key(session_maker: Maker, org: int) -> str:
    async with session_maker() as session, session.begin():
        _, secret = await create_api_key(
            session, name="spender", scopes=("tokens.consume",), organization_id=org,
            actor=Actor.system("tests"),
        )  # fmt: skip
    return secret


async def _books_agree(session_maker: Maker, wallet_id: int) -> None:
    async with session_maker() as session, session.begin():
        await use_one_snapshot(session)
        assert (await check_wallets(session, [wallet_id])).mismatches == []


async def test_dispute_freezes_disputed_tokens_until_released(
    stripe_api: httpx.AsyncClient,
    standin: StandinServer,
    session_maker: Maker,
    make_organization: MakeOrganization,
    make_package: MakePackage,
    admin: ApiUser,
) -> None:
    org = await make_organization()
    purchase = await paid_purchase(session_maker, standin, org, await make_package())
    key = await _consume_key(session_maker, org)
    assert (await _spend(stripe_api, key, org, "100")).status_code == 201
    # 116.00 of 290.00 disputed: 40 % of the 500 tokens, 200, frozen out of 400 left.
    dispute = await _dispute(stripe_api, standin, purchase, 11600)
    assert await wallet_balance(session_maker, org) == Decimal("200")
    refused = await _spend(stripe_api, key, org, "200.0001")
    assert refused.status_code == 409, refused.text
    assert (await _spend(stripe_api, key, org, "50")).status_code == 201
    row = await _dispute_row(stripe_api, admin, dispute["id"])
    assert (row["status"], row["disputed_tokens"], row["frozen_tokens"]) == (
        "frozen", "200.0000", "200.0000",
    )  # fmt: skip
    assert await count_rows(
        session_maker, "notification_events",
        "event_type = 'dispute.opened' AND organization_id = :o", o=org,
    ) == 1  # fmt: skip

    decision = await stripe_api.post(
        f"/api/tokens/admin/disputes/{row['id']}/decision",
        json={"decision": "release", "note": "won the dispute"},
        headers=admin.headers(**{"Idempotency-Key": new_key()}),
    )
    assert decision.status_code == 200, decision.text
    assert decision.json()["status"] == "released"
    assert await wallet_balance(session_maker, org) == Decimal("350")
    assert await account_total(session_maker, "system:dispute_frozen", purchase.reference) == 0
    await _books_agree(session_maker, purchase.wallet_id)
    again = await stripe_api.post(
        f"/api/tokens/admin/disputes/{row['id']}/decision",
        json={"decision": "forfeit"},
        headers=admin.headers(**{"Idempotency-Key": new_key()}),
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "dispute_already_decided"
    assert await count_rows(
        session_maker, "token_audit_logs",
        "action IN ('dispute.opened', 'dispute.release') AND target_id = :d",
        d=str(row["id"]),
    ) == 2  # fmt: skip


async def test_forfeited_dispute_books_tokens_to_dispute_loss(
    stripe_api: httpx.AsyncClient,
    standin: StandinServer,
    session_maker: Maker,
    make_organization: MakeOrganization,
    make_package: MakePackage,
    admin: ApiUser,
) -> None:
    org = await make_organization()
    purchase = await paid_purchase(session_maker, standin, org, await make_package())
    dispute = await _dispute(stripe_api, standin, purchase, 29000)
    assert await wallet_balance(session_maker, org) == Decimal("0")
    row = await _dispute_row(stripe_api, admin, dispute["id"])
    headers = admin.headers(**{"Idempotency-Key": new_key()})
    body = {"decision": "forfeit"}
    first = await stripe_api.post(
        f"/api/tokens/admin/disputes/{row['id']}/decision", json=body, headers=headers
    )
    replay = await stripe_api.post(
        f"/api/tokens/admin/disputes/{row['id']}/decision", json=body, headers=headers
    )
    assert first.status_code == replay.status_code == 200
    assert first.json() == replay.json()
    assert first.json()["status"] == "forfeited"
    assert await wallet_balance(session_maker, org) == Decimal("0")
    assert await account_total(session_maker, "system:dispute_loss", purchase.reference) == 500
    assert await account_total(session_maker, "system:dispute_frozen", purchase.reference) == 0
    await _books_agree(session_maker, purchase.wallet_id)


async def test_same_dispute_event_twice_freezes_once(
    stripe_api: httpx.AsyncClient,
    standin: StandinServer,
    session_maker: Maker,
    make_organization: MakeOrganization,
    make_package: MakePackage,
) -> None:
    org = await make_organization()
    purchase = await paid_purchase(session_maker, standin, org, await make_package())
    dispute = await _dispute(stripe_api, standin, purchase, 2900)
    again = await deliver(stripe_api, emitted(standin, "charge.dispute.created", dispute["id"]))
    assert again.json()["duplicate"] is True
    assert await wallet_balance(session_maker, org) == Decimal("450")


async def test_dispute_decision_needs_the_admin_role(
    stripe_api: httpx.AsyncClient, make_user: Callable[..., Awaitable[ApiUser]]
) -> None:
    buyer = await make_user(None)
    answer = await stripe_api.post(
        "/api/tokens/admin/disputes/1/decision",
        json={"decision": "release"},
        headers=buyer.headers(**{"Idempotency-Key": new_key()}),
    )
    assert answer.status_code == 403


async def test_dispute_after_spending_freezes_what_is_left_and_says_what_was_spent(
    stripe_api: httpx.AsyncClient,
    standin: StandinServer,
    session_maker: Maker,
    make_organization: MakeOrganization,
    make_package: MakePackage,
    admin: ApiUser,
) -> None:
    org = await make_organization()
    purchase = await paid_purchase(session_maker, standin, org, await make_package())
    key = await _consume_key(session_maker, org)
    assert (await _spend(stripe_api, key, org, "450")).status_code == 201
    dispute = await _dispute(stripe_api, standin, purchase, 29000)
    row = await _dispute_row(stripe_api, admin, dispute["id"])
    assert (row["disputed_tokens"], row["frozen_tokens"]) == ("500.0000", "50.0000")
    assert await wallet_balance(session_maker, org) == Decimal("0")
    async with session_maker() as session:
        spent = await session.scalar(
            text(
                "SELECT payload->>'tokens_already_spent' FROM notification_events "
                "WHERE event_type = 'dispute.opened' AND organization_id = :o"
            ),
            {"o": org},
        )
    assert spent == "450.0000"
    await _books_agree(session_maker, purchase.wallet_id)


async def test_dispute_of_held_tokens_freezes_them_and_withdraws_the_hold(
    stripe_api: httpx.AsyncClient,
    standin: StandinServer,
    session_maker: Maker,
    make_organization: MakeOrganization,
    make_package: MakePackage,
    admin: ApiUser,
) -> None:
    """The webhook is not refused (before 0024 the freeze broke the wallet's non-negative
    check and Stripe retried the event for ever): the hold that reserved the tokens is
    released, the placer told, and its capture refused."""
    org = await make_organization()
    purchase = await paid_purchase(session_maker, standin, org, await make_package())
    key = await _consume_key(session_maker, org)
    placed = await stripe_api.post(
        f"/api/tokens/wallet/{org}/holds",
        json={"amount": "400", "reason": "claim assessment"},
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": new_key()},
    )
    assert placed.status_code == 201, placed.text

    dispute = await _dispute(stripe_api, standin, purchase, 29000)

    row = await _dispute_row(stripe_api, admin, dispute["id"])
    assert (row["disputed_tokens"], row["frozen_tokens"]) == ("500.0000", "500.0000")
    assert await wallet_balance(session_maker, org) == Decimal("0")
    hold_id = placed.json()["hold_id"]
    capture = await stripe_api.post(
        f"/api/tokens/wallet/{org}/holds/{hold_id}/capture",
        json={},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert capture.status_code == 409 and capture.json()["error"]["code"] == "hold_not_active"
    assert await count_rows(
        session_maker, "notification_events",
        "event_type = 'wallet.hold_released' AND organization_id = :o", o=org,
    ) == 1  # fmt: skip
    await _books_agree(session_maker, purchase.wallet_id)
