"""The subscription routes over the real database, with a worker running the workflows on the
Temporal dev server: create, read live, list, invoices, commands, permissions and validation."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from tests.api.helpers import (
    ApiUser,
    MakePackage,
    Maker,
    MakeUser,
    api_client,
    count_rows,
    new_key,
    new_request_id,
)
from tokenbill.settings import Settings
from worker.main import build_worker

MakeOrganization = Callable[..., Awaitable[int]]
BASE = "/api/tokens/subscriptions"


@pytest.fixture(scope="module")
async def sub_client(
    settings: Settings, temporal_client: Client, session_maker: Maker
) -> AsyncIterator[httpx.AsyncClient]:
    """The app and an in-process worker on a task queue of this module's own."""
    queue = f"subscription-api-{uuid.uuid4().hex}"
    app_settings = settings.model_copy(update={"temporal_task_queue": queue})
    async with (
        build_worker(temporal_client, app_settings, session_maker, task_queue=queue),
        api_client(app_settings) as client,
    ):
        yield client


@pytest.fixture
async def buyer(make_organization: MakeOrganization, make_user: MakeUser) -> ApiUser:
    return await make_user(await make_organization(), ("tokens.view", "tokens.purchase"))


async def subscribe(
    client: httpx.AsyncClient, user: ApiUser, package_id: int, **extra: Any
) -> httpx.Response:
    body = {"organization_id": user.organization_id, "package_id": package_id,
            "payment_method": "pm_card_ok", **extra}  # fmt: skip
    return await client.post(
        BASE, json=body, headers=user.headers(**{"Idempotency-Key": new_key()})
    )


async def command(
    client: httpx.AsyncClient, user: ApiUser, subscription_id: int, name: str, body: Any = None
) -> httpx.Response:
    return await client.post(
        f"{BASE}/{subscription_id}/{name}",
        json=body,
        headers=user.headers(**{"Idempotency-Key": new_key()}),
    )


async def eventually(
    client: httpx.AsyncClient, user: ApiUser, subscription_id: int, **wanted: Any
) -> dict[str, Any]:
    """The subscription once its live state shows `wanted` (the worker acts in the background)."""
    deadline = time.monotonic() + 30
    while True:
        body: dict[str, Any] = (
            await client.get(f"{BASE}/{subscription_id}", headers=user.headers())
        ).json()
        if all(body.get(k) == v for k, v in wanted.items()) or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.2)


async def test_subscription_is_created_charged_at_start_and_read_live(
    sub_client: httpx.AsyncClient, buyer: ApiUser, make_package: MakePackage, session_maker: Maker
) -> None:
    created = await subscribe(sub_client, buyer, await make_package())
    assert created.status_code == 201, created.text
    subscription_id = created.json()["subscription_id"]
    assert created.json()["workflow_id"] == f"subscription-{subscription_id}"
    assert (created.json()["billing_interval"], created.json()["grace_period"]) == ("P1M", "P7D")

    live = await eventually(sub_client, buyer, subscription_id, dunning_attempt=0, live=True,
                            current_period_start=created.json()["next_billing_date"])  # fmt: skip
    assert live["status"] == "active"
    assert live["current_period_end"] is not None
    assert live["next_billing_date"] == live["current_period_end"]
    invoices = (
        await sub_client.get(f"{BASE}/{subscription_id}/invoices", headers=buyer.headers())
    ).json()
    assert [(i["status"], i["total"], i["token_quantity"]) for i in invoices["items"]] == [
        ("paid", "290.00", "500")
    ]
    history = (await sub_client.get("/api/tokens/purchases", headers=buyer.headers())).json()[
        "items"
    ]
    assert [(p["purchase_type"], p["status"]) for p in history] == [("subscription", "completed")]
    assert await count_rows(session_maker, "token_audit_logs",
                            "action = 'subscription.create' AND target_id = :t",
                            t=str(subscription_id)) == 1  # fmt: skip


async def test_interval_shorter_than_the_minimum_is_refused_and_creates_nothing(
    sub_client: httpx.AsyncClient, buyer: ApiUser, make_package: MakePackage, session_maker: Maker
) -> None:
    package = await make_package()
    before = await count_rows(session_maker, "token_subscriptions")
    refused = await subscribe(sub_client, buyer, package, billing_interval="PT1H")
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "billing_interval_too_short"
    assert "shorter than the minimum of P1D" in error["message"]
    for bad in ({"billing_interval": "P1X"}, {"billing_interval": "P"},
                {"grace_period": "P1M"}, {"start_at": "2001-01-01T00:00:00Z"},
                {"payment_method": "card"}, {"billing_interval": "P0D"}):  # fmt: skip
        answer = await subscribe(sub_client, buyer, package, **bad)
        assert answer.status_code == 422, (bad, answer.text)
    assert await count_rows(session_maker, "token_subscriptions") == before


async def test_subscription_routes_need_the_right_permission_and_organization(
    sub_client: httpx.AsyncClient,
    buyer: ApiUser,
    make_user: MakeUser,
    make_organization: MakeOrganization,
    make_package: MakePackage,
    session_maker: Maker,
) -> None:
    package = await make_package()
    viewer = await make_user(buyer.organization_id, ("tokens.view",))
    stranger = await make_user(await make_organization(), ("tokens.view", "tokens.purchase"))
    request_id = new_request_id()
    refused = await sub_client.post(
        BASE,
        json={"organization_id": buyer.organization_id, "package_id": package,
              "payment_method": "pm_card_ok"},
        headers=viewer.headers(**{"Idempotency-Key": new_key(), "X-Request-ID": request_id}),
    )  # fmt: skip
    assert refused.status_code == 403
    denied = "request_id = :r AND outcome = 'denied'"
    assert await count_rows(session_maker, "token_audit_logs", denied, r=request_id) == 1
    assert (await sub_client.get(BASE)).status_code == 401

    subscription_id = (await subscribe(sub_client, buyer, package)).json()["subscription_id"]
    assert (
        await sub_client.get(f"{BASE}/{subscription_id}", headers=viewer.headers())
    ).status_code == 200
    for path in (f"{BASE}/{subscription_id}", f"{BASE}/{subscription_id}/invoices"):
        assert (await sub_client.get(path, headers=stranger.headers())).status_code == 403
    assert (await command(sub_client, viewer, subscription_id, "pause")).status_code == 403
    assert (await command(sub_client, stranger, subscription_id, "pause")).status_code == 403
    missing = await sub_client.get(f"{BASE}/2147483600", headers=buyer.headers())
    assert missing.json()["error"]["code"] == "subscription_not_found"


async def test_same_idempotency_key_creates_one_subscription(
    sub_client: httpx.AsyncClient, buyer: ApiUser, make_package: MakePackage, session_maker: Maker
) -> None:
    body = {"organization_id": buyer.organization_id, "package_id": await make_package(),
            "payment_method": "pm_card_ok"}  # fmt: skip
    headers = buyer.headers(**{"Idempotency-Key": new_key()})
    first = await sub_client.post(BASE, json=body, headers=headers)
    second = await sub_client.post(BASE, json=body, headers=headers)
    assert first.json() == second.json()
    assert await count_rows(session_maker, "token_subscriptions",
                            "organization_id = :o", o=buyer.organization_id) == 1  # fmt: skip


async def test_commands_pause_resume_change_package_and_cancel_are_answered_and_audited(
    sub_client: httpx.AsyncClient, buyer: ApiUser, make_package: MakePackage, session_maker: Maker
) -> None:
    created = (await subscribe(sub_client, buyer, await make_package())).json()
    subscription_id = created["subscription_id"]
    first = await eventually(sub_client, buyer, subscription_id,
                             current_period_start=created["next_billing_date"])  # fmt: skip
    paused = await command(sub_client, buyer, subscription_id, "pause")
    assert (paused.status_code, paused.json()["status"]) == (200, "paused")
    again = await command(sub_client, buyer, subscription_id, "pause")
    assert (again.status_code, again.json()["error"]["code"]) == (
        409,
        "subscription_state_conflict",
    )
    resumed = await command(sub_client, buyer, subscription_id, "resume", {})
    assert resumed.json()["status"] == "active"
    assert resumed.json()["next_billing_date"] == first["next_billing_date"]

    bigger = await make_package(tokens="2000")
    changed = await command(sub_client, buyer, subscription_id, "package", {"package_id": bigger})
    assert changed.status_code == 200
    assert changed.json()["effective_at"] == first["next_billing_date"]
    assert "from the next period" in changed.json()["message"]
    live = await eventually(sub_client, buyer, subscription_id, next_package_id=bigger)
    assert live["package_id"] != bigger

    method = await command(sub_client, buyer, subscription_id, "payment-method",
                           {"payment_method": "pm_card_insufficient_funds"})  # fmt: skip
    assert method.json()["message"] == "Saved; the next charge uses it."
    cancelled = await command(sub_client, buyer, subscription_id, "cancel", {"when": "immediately"})
    assert cancelled.json()["status"] == "cancelled"
    row = await eventually(sub_client, buyer, subscription_id, status="cancelled")
    assert row["cancelled_at"] is not None
    late = await command(sub_client, buyer, subscription_id, "pause")
    assert late.status_code == 409
    actions = await count_rows(
        session_maker, "token_audit_logs",
        "target_type = 'token_subscription' AND target_id = :t AND actor_type = 'user' "
        "AND action IN ('subscription.pause', 'subscription.resume', 'subscription.package', "
        "'subscription.payment_method', 'subscription.cancel')", t=str(subscription_id),
    )  # fmt: skip
    assert actions == 5


async def test_declined_card_shows_past_due_and_a_new_method_recovers_it(
    sub_client: httpx.AsyncClient, buyer: ApiUser, make_package: MakePackage
) -> None:
    created = await subscribe(sub_client, buyer, await make_package(),
                              payment_method="pm_card_declined")  # fmt: skip
    subscription_id = created.json()["subscription_id"]
    past_due = await eventually(sub_client, buyer, subscription_id, status="past_due")
    assert past_due["dunning_attempt"] == 1
    assert "declined" in past_due["last_payment_error"]
    invoices = (
        await sub_client.get(f"{BASE}/{subscription_id}/invoices", headers=buyer.headers())
    ).json()["items"]
    assert [i["status"] for i in invoices] == ["open"]

    method = await command(sub_client, buyer, subscription_id, "payment-method",
                           {"payment_method": "pm_card_ok"})  # fmt: skip
    assert "retried now" in method.json()["message"]
    active = await eventually(
        sub_client, buyer, subscription_id, status="active", dunning_attempt=0
    )
    assert active["last_payment_error"] is None
    invoices = (
        await sub_client.get(f"{BASE}/{subscription_id}/invoices", headers=buyer.headers())
    ).json()["items"]
    assert [i["status"] for i in invoices] == ["paid"]


async def test_list_filters_by_status_and_organization_and_pages(
    sub_client: httpx.AsyncClient, buyer: ApiUser, make_package: MakePackage, admin: ApiUser
) -> None:
    package = await make_package()
    ids = [
        (await subscribe(sub_client, buyer, package)).json()["subscription_id"] for _ in range(3)
    ]
    await command(sub_client, buyer, ids[0], "cancel", {"when": "immediately"})
    await eventually(sub_client, buyer, ids[0], status="cancelled")

    page = (await sub_client.get(f"{BASE}?limit=2", headers=buyer.headers())).json()
    assert (page["total"], len(page["items"])) == (3, 2)
    cancelled = (await sub_client.get(f"{BASE}?status=cancelled", headers=buyer.headers())).json()
    assert [s["subscription_id"] for s in cancelled["items"]] == [ids[0]]
    by_admin = await sub_client.get(
        f"{BASE}?organization_id={buyer.organization_id}", headers=admin.headers()
    )
    assert by_admin.json()["total"] == 3
    bad = await sub_client.get(f"{BASE}?status=sleeping", headers=buyer.headers())
    assert bad.status_code == 422
