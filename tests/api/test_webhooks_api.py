"""Webhook endpoint routes: the secret shown once, validation, permissions, audit, the test
event delivered to a real receiver, and the delivery log."""

import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from temporalio.client import Client

from tests.api.helpers import ApiUser, Maker, MakeUser, api_client, count_rows, new_key
from tests.notification_helpers import (
    Receiver,
    RunningWorker,
    eventually,
    notification_settings,
    notification_worker,
)
from tokenbill.settings import Settings
from workflows.webhook_signature import SIGNATURE_HEADER, verify_signature

BASE = "/api/tokens/webhooks"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
async def configurer(make_user: MakeUser, make_organization) -> ApiUser:
    return await make_user(await make_organization(), ("tokens.view", "tokens.configure"))


async def create(client: httpx.AsyncClient, user: ApiUser, **body: object) -> httpx.Response:
    payload = {"organization_id": user.organization_id, "url": "http://127.0.0.1:9/hooks", **body}
    return await client.post(
        BASE, json=payload, headers=user.headers(**{"Idempotency-Key": new_key()})
    )


async def test_created_endpoint_shows_its_secret_once_and_is_audited(
    client: httpx.AsyncClient, configurer: ApiUser, session_maker: Maker
):
    created = await create(client, configurer, event_types=["purchase.*", "wallet.balance_low"])
    listed = await client.get(BASE, headers=configurer.headers())

    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert body["event_types"] == ["purchase.*", "wallet.balance_low"]
    assert [item["id"] for item in listed.json()["items"]] == [body["id"]]
    assert "secret" not in listed.json()["items"][0]
    assert listed.json()["items"][0]["secret_hint"] == body["secret"][-4:]
    assert await count_rows(
        session_maker, "token_audit_logs", "action = 'webhook.create' AND target_id = :t",
        t=str(body["id"]),
    ) == 1  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("url", "ftp://example.com/hooks"),
        ("url", "not a url"),
        ("url", "https://user:pw@example.com/hooks"),
        ("event_types", ["Purchase Completed"]),
        ("event_types", ["purchase.*.x"]),
    ],
)
async def test_invalid_endpoint_is_refused_and_nothing_is_created(
    client: httpx.AsyncClient,
    configurer: ApiUser,
    session_maker: Maker,
    field: str,
    value: object,
):
    answer = await create(client, configurer, **{field: value})

    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "validation_error"
    assert await count_rows(
        session_maker, "webhook_endpoints", "organization_id = :o", o=configurer.organization_id
    ) == 0  # fmt: skip


async def test_endpoint_routes_need_configure_on_the_own_organization(
    client: httpx.AsyncClient, configurer: ApiUser, make_user: MakeUser, make_organization
):
    viewer = await make_user(configurer.organization_id, ("tokens.view",))
    stranger = await make_user(await make_organization(), ("tokens.configure",))
    endpoint_id = (await create(client, configurer)).json()["id"]

    by_viewer = await create(client, viewer)
    read_by_stranger = await client.get(f"{BASE}/{endpoint_id}", headers=stranger.headers())
    deleted_by_stranger = await client.delete(f"{BASE}/{endpoint_id}", headers=stranger.headers())

    assert by_viewer.status_code == 403
    assert read_by_stranger.status_code == 403
    assert deleted_by_stranger.status_code == 403
    still = await client.get(f"{BASE}/{endpoint_id}", headers=configurer.headers())
    assert still.json()["is_active"] is True


async def test_update_and_deactivate_are_audited_with_before_and_after(
    client: httpx.AsyncClient, configurer: ApiUser, session_maker: Maker
):
    endpoint_id = (await create(client, configurer)).json()["id"]

    updated = await client.patch(
        f"{BASE}/{endpoint_id}", json={"event_types": ["auto_topup.*"]},
        headers=configurer.headers(),
    )  # fmt: skip
    deactivated = await client.delete(f"{BASE}/{endpoint_id}", headers=configurer.headers())

    assert updated.json()["event_types"] == ["auto_topup.*"]
    assert deactivated.json()["is_active"] is False
    assert await count_rows(
        session_maker, "token_audit_logs",
        "action IN ('webhook.update', 'webhook.deactivate') AND target_id = :t "
        "AND before IS NOT NULL AND after IS NOT NULL", t=str(endpoint_id),
    ) == 2  # fmt: skip


@pytest.fixture(scope="module")
async def running(
    temporal_client: Client, settings: Settings, session_maker: Maker
) -> AsyncIterator[RunningWorker]:
    async with notification_worker(
        temporal_client, notification_settings(settings), session_maker, with_relay=False
    ) as worker:
        yield worker


async def test_test_event_reaches_the_receiver_signed_and_shows_in_the_delivery_log(
    running: RunningWorker, configurer: ApiUser, receiver: Receiver
):
    receiver.answers.append(502)
    worker_settings = running.settings.model_copy(
        update={"temporal_task_queue": running.task_queue}
    )
    async with api_client(worker_settings) as api:
        created = (await create(api, configurer, url=receiver.url)).json()
        sent = await api.post(
            f"{BASE}/{created['id']}/test", json={"message": "hello"},
            headers=configurer.headers(**{"Idempotency-Key": new_key()}),
        )  # fmt: skip
        log = await eventually(
            lambda: api.get(f"{BASE}/{created['id']}/deliveries", headers=configurer.headers()),
            lambda answer: answer.json()["items"][0]["status"] == "succeeded",
        )

    assert sent.status_code == 202
    [delivery] = log.json()["items"]
    assert delivery["event_type"] == "webhook.test"
    assert delivery["id"] == sent.json()["delivery_id"]
    assert [a["status_code"] for a in delivery["attempt_log"]] == [502, 200]
    assert delivery["attempt_log"][0]["error"] == "the endpoint answered HTTP 502"
    assert all(a["duration_ms"] >= 0 for a in delivery["attempt_log"])
    last = receiver.received[-1]
    assert verify_signature(created["secret"], last.headers[SIGNATURE_HEADER], last.body,
                            now=int(time.time()))  # fmt: skip
    assert b'"message":"hello"' in last.body
