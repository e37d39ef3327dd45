"""Webhook endpoint routes: the secret shown once and stored encrypted (in replays too),
validation (public addresses only), permissions, audit, secret rotation, the rate-limited test
event delivered to a real receiver, and the delivery log."""

import ipaddress
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from temporalio.client import Client

from api.app import create_app
from api.webhook_deps import outbound_resolver
from db.webhook_secrets import SecretBox
from tests.api.helpers import ApiUser, Maker, MakeUser, api_client, count_rows, new_key
from tests.database_helpers import rows
from tests.notification_helpers import (
    Receiver,
    RunningWorker,
    eventually,
    notification_settings,
    notification_worker,
)
from tokenbill.outbound_addresses import IPAddress
from tokenbill.settings import Settings
from workflows.webhook_signature import verify_signature

BASE = "/api/tokens/webhooks"


@pytest.fixture(scope="module")
def local_settings(api_settings: Settings) -> Settings:
    """These tests point endpoints at 127.0.0.1, which production refuses."""
    return api_settings.model_copy(update={"webhook_allow_private_addresses": True})


@pytest.fixture
async def client(local_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(local_settings) as c:
        yield c


@pytest.fixture
async def strict_client(api_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The production rule: webhooks reach public addresses only."""
    async with api_client(api_settings) as c:
        yield c


@asynccontextmanager
async def client_resolving(settings: Settings, *addresses: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app with host names resolved by a stub: no lookup leaves the process."""

    async def resolve(host: str, port: int) -> Sequence[IPAddress]:
        return [ipaddress.ip_address(a) for a in addresses]

    app = create_app(settings)
    app.dependency_overrides[outbound_resolver] = lambda: resolve
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://tokenbill.test") as c:
            yield c


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
    assert verify_signature(created["secret"], last.headers, last.body, now=int(time.time()))
    assert b'"message":"hello"' in last.body


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:54329/",  # the dev database
        "http://[::1]:7233/",  # Temporal
        "http://localhost:3000/",  # the API itself
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://10.0.0.5/hooks",
        "http://100.64.0.1/hooks",
        "http://[fd00::1]/hooks",
        "http://0.0.0.0:5432/",
    ],
)
async def test_endpoint_at_an_internal_address_is_refused_and_nothing_is_created(
    strict_client: httpx.AsyncClient, configurer: ApiUser, session_maker: Maker, url: str
):
    answer = await create(strict_client, configurer, url=url)

    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "webhook_url_not_public"
    assert await count_rows(
        session_maker, "webhook_endpoints", "organization_id = :o", o=configurer.organization_id
    ) == 0  # fmt: skip


async def test_host_resolving_to_a_private_address_is_refused_when_saved(
    api_settings: Settings, configurer: ApiUser
):
    async with client_resolving(api_settings, "93.184.215.14", "192.168.0.10") as api:
        answer = await create(api, configurer, url="https://hooks.example.com/in")

    assert answer.status_code == 422
    assert answer.json()["error"]["details"]["address_kind"] == "private"


async def test_endpoint_resolving_only_to_public_addresses_is_saved(
    api_settings: Settings, configurer: ApiUser
):
    async with client_resolving(api_settings, "93.184.215.14") as api:
        answer = await create(api, configurer, url="https://hooks.example.com/in")

    assert answer.status_code == 201


async def test_update_to_an_internal_address_is_refused(
    api_settings: Settings, configurer: ApiUser
):
    async with client_resolving(api_settings, "93.184.215.14") as api:
        endpoint_id = (await create(api, configurer, url="https://hooks.example.com/in")).json()[
            "id"
        ]
        moved = await api.patch(
            f"{BASE}/{endpoint_id}", json={"url": "http://169.254.169.254/latest/"},
            headers=configurer.headers(),
        )  # fmt: skip
        still = await api.get(f"{BASE}/{endpoint_id}", headers=configurer.headers())

    assert moved.status_code == 422
    assert moved.json()["error"]["code"] == "webhook_url_not_public"
    assert still.json()["url"] == "https://hooks.example.com/in"


async def test_signing_secret_is_stored_encrypted(
    client: httpx.AsyncClient, configurer: ApiUser, session_maker: Maker, local_settings: Settings
):
    created = (await create(client, configurer)).json()

    [row] = await rows(
        session_maker,
        "SELECT row_to_json(e)::text AS whole, e.secret_ciphertext FROM webhook_endpoints e "
        "WHERE id = :i",
        i=created["id"],
    )
    assert created["secret"] not in row.whole
    assert created["secret"].removeprefix("whsec_") not in row.whole
    assert SecretBox(local_settings).decrypt(row.secret_ciphertext) == created["secret"]


async def stored_replay(session_maker: Maker, key: str) -> str:
    [row] = await rows(
        session_maker,
        "SELECT response_body::text AS body FROM idempotency_records WHERE key = :k",
        k=key,
    )
    return str(row.body)


async def test_stored_replay_of_the_creation_answer_holds_no_plain_secret(
    client: httpx.AsyncClient, configurer: ApiUser, session_maker: Maker
):
    key = new_key()
    body = {"organization_id": configurer.organization_id, "url": "http://127.0.0.1:9/hooks"}
    created = await client.post(
        BASE, json=body, headers=configurer.headers(**{"Idempotency-Key": key})
    )
    replayed = await client.post(
        BASE, json=body, headers=configurer.headers(**{"Idempotency-Key": key})
    )

    secret = created.json()["secret"]
    assert secret.removeprefix("whsec_") not in await stored_replay(session_maker, key)
    # A replay still gives the client what the first answer gave.
    assert replayed.status_code == 201
    assert replayed.json() == created.json()


async def test_stored_replay_of_a_rotation_answer_holds_no_plain_secret(
    client: httpx.AsyncClient, configurer: ApiUser, session_maker: Maker
):
    endpoint_id = (await create(client, configurer)).json()["id"]
    key = new_key()
    rotated = await client.post(
        f"{BASE}/{endpoint_id}/rotate-secret", json={},
        headers=configurer.headers(**{"Idempotency-Key": key}),
    )  # fmt: skip
    replayed = await client.post(
        f"{BASE}/{endpoint_id}/rotate-secret", json={},
        headers=configurer.headers(**{"Idempotency-Key": key}),
    )  # fmt: skip

    assert rotated.status_code == 200
    secret = rotated.json()["secret"]
    assert secret.removeprefix("whsec_") not in await stored_replay(session_maker, key)
    assert replayed.json() == rotated.json()


async def test_rotated_and_previous_secrets_both_sign_during_the_overlap(
    running: RunningWorker, configurer: ApiUser, receiver: Receiver
):
    worker_settings = running.settings.model_copy(
        update={"temporal_task_queue": running.task_queue}
    )

    async def test_event(api: httpx.AsyncClient, endpoint_id: int) -> None:
        count = len(receiver.received)
        sent = await api.post(
            f"{BASE}/{endpoint_id}/test", json={},
            headers=configurer.headers(**{"Idempotency-Key": new_key()}),
        )  # fmt: skip
        assert sent.status_code == 202
        await eventually(lambda: _received(receiver), lambda n: n > count)

    async with api_client(worker_settings) as api:
        created = (await create(api, configurer, url=receiver.url)).json()
        first = created["secret"]
        rotation = await api.post(
            f"{BASE}/{created['id']}/rotate-secret", json={"overlap": "PT1H"},
            headers=configurer.headers(**{"Idempotency-Key": new_key()}),
        )  # fmt: skip
        second = rotation.json()["secret"]
        await test_event(api, created["id"])
        during = receiver.received[-1]
        ended = await api.post(
            f"{BASE}/{created['id']}/rotate-secret", json={"overlap": "PT0S"},
            headers=configurer.headers(**{"Idempotency-Key": new_key()}),
        )  # fmt: skip
        third = ended.json()["secret"]
        await test_event(api, created["id"])
        after = receiver.received[-1]

    assert rotation.status_code == 200 and rotation.json()["previous_secret_expires_at"]
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    for secret in (first, second):
        Webhook(secret).verify(during.body, during.headers)
    Webhook(third).verify(after.body, after.headers)
    for stale in (first, second):
        with pytest.raises(WebhookVerificationError):
            Webhook(stale).verify(after.body, after.headers)


async def _received(receiver: Receiver) -> int:
    return len(receiver.received)


async def test_test_events_beyond_the_rate_limit_are_refused(
    local_settings: Settings, configurer: ApiUser
):
    # A window of a century: the three requests never straddle two windows.
    limited = local_settings.model_copy(
        update={"webhook_test_rate_limit": 2, "webhook_test_rate_window": timedelta(days=36500)}
    )
    async with api_client(limited) as api:
        endpoint_id = (await create(api, configurer)).json()["id"]
        answers = [
            await api.post(
                f"{BASE}/{endpoint_id}/test",
                json={},
                headers=configurer.headers(**{"Idempotency-Key": new_key()}),
            )
            for _ in range(3)
        ]

    assert [a.status_code for a in answers] == [202, 202, 429]
    assert answers[2].json()["error"]["code"] == "rate_limited"
    assert int(answers[2].headers["Retry-After"]) >= 1
