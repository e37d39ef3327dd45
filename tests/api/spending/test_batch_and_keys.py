"""POST /consumptions answers item by item; API keys: scopes, organization binding, revocation
after the cache window; the admin API keys routes; thresholds; the relay nudge."""

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError

from api.auth import api_key_cache
from db.api_keys import hash_secret
from tests.api.helpers import Maker, MakeUser, count_rows
from tests.api.spending.conftest import FundOrganization, LiveApi, MakeApiKey, serve
from tokenbill.settings import Settings
from workflows.outbox_types import (
    OUTBOX_RELAY_WORKFLOW,
    OUTBOX_RELAY_WORKFLOW_ID,
    WAKE_SIGNAL,
)

BATCH_URL = "/api/tokens/consumptions"


def item(org: int, amount: str, key: str, reason: str = "batch use") -> dict[str, Any]:
    return {"organization_id": org, "amount": amount, "idempotency_key": key, "reason": reason}


async def test_batch_applies_good_items_and_answers_failures_item_by_item(
    api: httpx.AsyncClient, fund: FundOrganization, make_api_key: MakeApiKey, session_maker: Maker
):
    rich, poor = await fund("100"), await fund("1")
    api.headers["Authorization"] = f"Bearer {await make_api_key()}"
    items = [
        item(rich, "10", "a"),
        item(poor, "2", "b"),
        item(2_000_000_000, "1", "c"),
        item(rich, "10", "a", reason="changed"),
        item(poor, "1", "d"),
        item(rich, "5", "e"),
    ]
    answer = await api.post(BATCH_URL, json={"items": items})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["applied"], body["replayed"], body["failed"]) == (3, 0, 3)
    got = [
        (i["index"], i["status"], i["balance"], (i["error"] or {}).get("code"))
        for i in body["items"]
    ]
    assert got == [
        (0, "applied", "90", None),
        (1, "failed", None, "insufficient_balance"),
        (2, "failed", None, "organization_not_found"),
        (3, "failed", None, "idempotency_key_reused"),
        (4, "applied", "0", None),
        (5, "applied", "85", None),
    ]
    assert body["items"][1]["error"]["details"] == {
        "organization_id": poor,
        "balance": "1",
        "requested": "2",
    }
    again = (await api.post(BATCH_URL, json={"items": [items[0], items[5]]})).json()
    assert [(i["status"], i["balance"]) for i in again["items"]] == [
        ("replayed", "90"),
        ("replayed", "85"),
    ]
    single = await api.post(
        f"/api/tokens/wallet/{rich}/consume",
        json={"amount": "10", "reason": "batch use"},
        headers={"Idempotency-Key": "a"},
    )
    assert single.json()["balance"] == "90", "batch items and single spends share the key space"
    assert await count_rows(
        session_maker, "token_balance_history", "organization_id IN (:a, :b)", a=rich, b=poor
    ) == 5  # fmt: skip


@pytest.mark.parametrize(
    "body",
    [
        {"items": []},
        {"items": [item(1, "1", f"k{n}") for n in range(1001)]},
        {"items": [item(1, "0", "k")]},
        {"items": [item(1, "1", "k"), item(1, "1.12345", "l")]},
        {"items": [{"organization_id": 1, "amount": "1", "reason": "r"}]},
        {"items": [item(0, "1", "k")]},
        {"items": [item(1, "1", "with space")]},
    ],
)
async def test_bad_batches_are_refused_whole_and_change_nothing(
    live_api: LiveApi,
    fund: FundOrganization,
    make_api_key: MakeApiKey,
    session_maker: Maker,
    body: dict[str, Any],
):
    org = await fund("5")
    for entry in body["items"]:
        entry["organization_id"] = (
            org if entry["organization_id"] == 1 else entry["organization_id"]
        )
    async with live_api.client(await make_api_key()) as client:
        answer = await client.post(BATCH_URL, json=body)
    assert answer.status_code == 422, answer.text
    assert (
        await count_rows(
            session_maker,
            "token_balance_history",
            "organization_id = :o AND change_type = 'consumption'",
            o=org,
        )
        == 0
    )


async def test_a_batch_with_an_organization_the_caller_may_not_spend_for_is_refused_whole(
    api: httpx.AsyncClient, fund: FundOrganization, make_api_key: MakeApiKey, session_maker: Maker
):
    own, other = await fund("5"), await fund("5")
    api.headers["Authorization"] = f"Bearer {await make_api_key(own)}"
    answer = await api.post(BATCH_URL, json={"items": [item(own, "1", "x"), item(other, "1", "y")]})
    assert answer.status_code == 403
    assert answer.json()["error"]["details"]["organization_ids"] == [other]
    assert (
        await count_rows(
            session_maker,
            "token_balance_history",
            "organization_id = :o AND change_type = 'consumption'",
            o=own,
        )
        == 0
    )


async def test_api_keys_need_the_scope_and_keep_to_their_organization(
    api: httpx.AsyncClient, fund: FundOrganization, make_api_key: MakeApiKey, session_maker: Maker
):
    org, other = await fund("5"), await fund("5")
    bound = await make_api_key(org)
    async with session_maker() as session, session.begin():
        await session.execute(
            text("UPDATE api_keys SET scopes = '{}' WHERE key_prefix = :p"), {"p": bound[:12]}
        )
    unscoped = bound
    bound = await make_api_key(org)
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"amount": "1", "reason": "r"}

    async def spend(credential: str, target: int) -> int:
        answer = await api.post(
            f"/api/tokens/wallet/{target}/consume", json=body,
            headers={**headers, "Authorization": f"Bearer {credential}"},
        )  # fmt: skip
        return answer.status_code

    assert await spend(unscoped, org) == 403
    assert await spend(bound, other) == 403
    assert await spend("tbk_" + "x" * 43, org) == 401
    assert await spend(bound, org) == 201
    assert await spend(await make_api_key(None), other) == 201, "an unbound key spends for any"


async def test_a_revoked_key_is_refused_once_the_cache_window_has_passed(
    api: httpx.AsyncClient,
    fund: FundOrganization,
    make_api_key: MakeApiKey,
    admin: Any,
    monkeypatch: pytest.MonkeyPatch,
    live_api: LiveApi,
):
    clock = [1000.0]
    monkeypatch.setattr(api_key_cache, "monotonic", lambda: clock[0])
    org = await fund("5")
    secret = await make_api_key(org)

    async def spend() -> int:
        answer = await api.post(
            f"/api/tokens/wallet/{org}/consume", json={"amount": "1", "reason": "r"},
            headers={"Idempotency-Key": uuid.uuid4().hex, "Authorization": f"Bearer {secret}"},
        )  # fmt: skip
        return answer.status_code

    assert await spend() == 201
    listed = await api.get(
        "/api/tokens/admin/api-keys", params={"organization_id": org}, headers=admin.headers()
    )
    key_id = listed.json()["items"][0]["id"]
    revoked = await api.post(f"/api/tokens/admin/api-keys/{key_id}/revoke", headers=admin.headers())
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert await spend() == 201, "still trusted inside the cache window"
    clock[0] += live_api.settings.api_key_cache_ttl.total_seconds() + 0.001
    assert await spend() == 401


async def test_admins_create_list_and_revoke_api_keys(
    api: httpx.AsyncClient,
    fund: FundOrganization,
    admin: Any,
    make_user: MakeUser,
    session_maker: Maker,
):
    org = await fund("3")
    body = {"name": "claims platform", "scopes": ["tokens.consume"], "organization_id": org}
    headers = admin.headers(**{"Idempotency-Key": uuid.uuid4().hex})
    created = await api.post("/api/tokens/admin/api-keys", json=body, headers=headers)
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["secret"].startswith("tbk_") and key["key_prefix"] == key["secret"][:12]
    replay = await api.post("/api/tokens/admin/api-keys", json=body, headers=headers)
    assert replay.json() == {**key, "secret": None}, "the secret is shown once and not stored"
    assert (
        await count_rows(session_maker, "api_keys", "key_hash = :h", h=hash_secret(key["secret"]))
        == 1
    )
    spent = await api.post(
        f"/api/tokens/wallet/{org}/consume", json={"amount": "1", "reason": "r"},
        headers={"Idempotency-Key": "k", "Authorization": f"Bearer {key['secret']}"},
    )  # fmt: skip
    assert spent.status_code == 201
    listing = (
        await api.get(
            "/api/tokens/admin/api-keys", params={"organization_id": org}, headers=admin.headers()
        )
    ).json()
    assert [(k["id"], k["name"], "secret" in k) for k in listing["items"]] == [
        (key["id"], "claims platform", False)
    ]
    bad = await api.post(
        "/api/tokens/admin/api-keys", json={**body, "scopes": ["tokens.purchase"]},
        headers=admin.headers(**{"Idempotency-Key": uuid.uuid4().hex}),
    )  # fmt: skip
    assert bad.status_code == 422
    user = await make_user(org, ("tokens.view", "tokens.configure", "tokens.consume"))
    assert (await api.get("/api/tokens/admin/api-keys", headers=user.headers())).status_code == 403
    revoked = await api.post(
        f"/api/tokens/admin/api-keys/{key['id']}/revoke", headers=admin.headers()
    )
    again = await api.post(
        f"/api/tokens/admin/api-keys/{key['id']}/revoke", headers=admin.headers()
    )
    assert revoked.json()["revoked_at"] == again.json()["revoked_at"]
    assert (
        await count_rows(
            session_maker,
            "token_audit_logs",
            "action = 'api_key.revoke' AND target_id = :k",
            k=str(key["id"]),
        )
        == 1
    )


async def test_thresholds_need_configure_on_the_organization_and_valid_values(
    api: httpx.AsyncClient, fund: FundOrganization, make_user: MakeUser, session_maker: Maker
):
    org, other = await fund("10"), await fund("10")
    configurer = await make_user(org, ("tokens.configure", "tokens.view"))
    viewer = await make_user(org, ("tokens.view", "tokens.consume"))

    async def put(user: Any, target: int, body: dict[str, Any]) -> httpx.Response:
        return await api.put(
            f"/api/tokens/wallet/{target}/thresholds", json=body, headers=user.headers()
        )

    assert (await put(viewer, org, {"low": "20", "critical": "5"})).status_code == 403
    assert (await put(configurer, other, {"low": "20", "critical": "5"})).status_code == 403
    bad_bodies: list[dict[str, Any]] = [
        {"low": "5", "critical": "20"}, {"low": "-1", "critical": None},
        {"low": "0", "critical": None}, {"low": "1.00001", "critical": None}, {"low": "20"},
        {"low": 10**16, "critical": None}, {"low": None, "critical": "150"},
    ]  # fmt: skip
    for bad in bad_bodies:
        answer = await put(configurer, org, bad)
        assert answer.status_code == 422, bad
    assert (await put(configurer, org, {"low": "9.5", "critical": None})).status_code == 422, (
        "the default critical (50) is above 9.5"
    )
    saved = await put(configurer, org, {"low": "9.5", "critical": "2"})
    assert saved.json() == {
        "organization_id": org, "wallet_id": saved.json()["wallet_id"], "low": "9.5",
        "critical": "2", "low_is_default": False, "critical_is_default": False,
    }  # fmt: skip
    wallet = (await api.get(f"/api/tokens/wallet/{org}", headers=configurer.headers())).json()
    assert wallet["thresholds"] == {"low": "9.5", "critical": "2"}
    assert (
        await count_rows(
            session_maker,
            "token_audit_logs",
            "action = 'wallet.thresholds_update' AND organization_id = :o",
            o=org,
        )
        == 1
    )
    spender = await make_user(org, ("tokens.consume",))
    spent = await api.post(
        f"/api/tokens/wallet/{org}/consume", json={"amount": "1", "reason": "r"},
        headers=spender.headers(**{"Idempotency-Key": "cross"}),
    )  # fmt: skip
    assert spent.json()["balance"] == "9"
    level = await count_rows(
        session_maker,
        "low_balance_notifications",
        "organization_id = :o AND threshold = 9.5",
        o=org,
    )
    assert level == 1, "the wallet's own threshold is the one crossed"


async def test_a_spend_that_records_an_event_wakes_the_outbox_relay(
    settings: Settings,
    fund: FundOrganization,
    make_api_key: MakeApiKey,
    temporal_client: Client,
):
    """The relay may already run (another suite's worker started it): then the spend adds one
    wake signal to it; else the spend starts it on the API's task queue (and the test ends it)."""
    queue = f"spend-nudge-{uuid.uuid4().hex[:8]}"
    handle = temporal_client.get_workflow_handle(OUTBOX_RELAY_WORKFLOW_ID)
    running_before = await relay_wake_signals(handle)
    org = await fund("100")
    async for live in serve(settings.model_copy(update={"temporal_task_queue": queue})):
        async with live.client(await make_api_key(org)) as client:
            answer = await client.post(
                f"/api/tokens/wallet/{org}/consume", json={"amount": "1", "reason": "r"},
                headers={"Idempotency-Key": "cross"},
            )  # fmt: skip
            assert answer.status_code == 201
    # The app's shutdown waited for the nudge in flight.
    description = await handle.describe()
    assert description.workflow_type == OUTBOX_RELAY_WORKFLOW
    assert description.status == WorkflowExecutionStatus.RUNNING
    if running_before is None:
        try:
            assert description.task_queue == queue
            assert await relay_wake_signals(handle) == 1
        finally:
            await handle.terminate(reason="spend nudge test: no relay worker on this queue")
    else:
        assert await relay_wake_signals(handle) == running_before + 1


async def relay_wake_signals(handle: WorkflowHandle[Any, Any]) -> int | None:
    """Wake signals the running relay received, or None when no relay runs."""
    try:
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            return None
    except RPCError:
        return None
    return len([
        e async for e in handle.fetch_history_events()
        if e.HasField("workflow_execution_signaled_event_attributes")
        and e.workflow_execution_signaled_event_attributes.signal_name == WAKE_SIGNAL
    ])  # fmt: skip
