"""An Idempotency-Key is bound to its principal, method, concrete path and body: sent to another
resource or route it is refused (422 `idempotency_key_reused`) and changes nothing, never
answered with another request's replay."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from tests.api.helpers import ApiUser, MakePackage, Maker, MakeUser, api_client, count_rows, new_key
from tokenbill.settings import Settings
from worker.main import build_worker

SUBSCRIPTIONS = "/api/tokens/subscriptions"


@pytest.fixture(scope="module")
async def sub_client(
    settings: Settings, temporal_client: Client, session_maker: Maker
) -> AsyncIterator[httpx.AsyncClient]:
    """The app and an in-process worker on a task queue of this module's own."""
    queue = f"idempotency-binding-{uuid.uuid4().hex}"
    app_settings = settings.model_copy(update={"temporal_task_queue": queue})
    async with (
        build_worker(temporal_client, app_settings, session_maker, task_queue=queue),
        api_client(app_settings) as client,
    ):
        yield client


async def live_subscription(
    client: httpx.AsyncClient, buyer: ApiUser, package_id: int
) -> dict[str, Any]:
    body = {"organization_id": buyer.organization_id, "package_id": package_id,
            "payment_method": "pm_card_ok"}  # fmt: skip
    created = await client.post(
        SUBSCRIPTIONS, json=body, headers=buyer.headers(**{"Idempotency-Key": new_key()})
    )
    assert created.status_code == 201, created.text
    subscription_id = created.json()["subscription_id"]
    deadline = time.monotonic() + 30
    while True:
        live: dict[str, Any] = (
            await client.get(f"{SUBSCRIPTIONS}/{subscription_id}", headers=buyer.headers())
        ).json()
        if live.get("live") and live.get("current_period_start") is not None:
            return live
        assert time.monotonic() < deadline, live
        await asyncio.sleep(0.2)


async def test_a_key_used_to_cancel_one_subscription_does_not_cancel_another(
    sub_client: httpx.AsyncClient,
    make_organization: Callable[..., Awaitable[int]],
    make_user: MakeUser,
    make_package: MakePackage,
) -> None:
    buyer = await make_user(await make_organization(), ("tokens.view", "tokens.purchase"))
    package = await make_package()
    first = await live_subscription(sub_client, buyer, package)
    second = await live_subscription(sub_client, buyer, package)
    headers = buyer.headers(**{"Idempotency-Key": new_key()})

    cancelled = await sub_client.post(
        f"{SUBSCRIPTIONS}/{first['subscription_id']}/cancel", json={}, headers=headers
    )
    assert cancelled.status_code == 200, cancelled.text
    reused = await sub_client.post(
        f"{SUBSCRIPTIONS}/{second['subscription_id']}/cancel", json={}, headers=headers
    )
    assert reused.status_code == 422, reused.text
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    still = await sub_client.get(
        f"{SUBSCRIPTIONS}/{second['subscription_id']}", headers=buyer.headers()
    )
    assert (still.json()["status"], still.json()["cancel_at_period_end"]) == ("active", False)
    replay = await sub_client.post(
        f"{SUBSCRIPTIONS}/{first['subscription_id']}/cancel", json={}, headers=headers
    )
    assert (replay.status_code, replay.json()) == (200, cancelled.json())


async def test_a_key_used_on_one_route_is_refused_on_another(
    client: httpx.AsyncClient, admin: ApiUser, session_maker: Maker
) -> None:
    headers = admin.headers(**{"Idempotency-Key": new_key()})
    organization = await client.post(
        "/api/tokens/admin/organizations", json={"name": "Bound Key Org"}, headers=headers
    )
    assert organization.status_code == 201, organization.text
    email = f"bound-{uuid.uuid4().hex[:10]}@keys.test"
    user = await client.post("/api/tokens/admin/users", json={"email": email}, headers=headers)
    assert user.status_code == 422, user.text
    assert user.json()["error"]["code"] == "idempotency_key_reused"
    assert await count_rows(session_maker, "users", "email = :e", e=email) == 0


async def test_the_same_key_from_another_principal_is_a_request_of_its_own(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    key = new_key()
    answers = []
    for _ in range(2):
        admin = await make_user(None, (), role="admin")
        answers.append(
            await client.post(
                "/api/tokens/admin/organizations",
                json={"name": "Same Key Org"},
                headers=admin.headers(**{"Idempotency-Key": key}),
            )
        )
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json()["id"] != answers[1].json()["id"]
