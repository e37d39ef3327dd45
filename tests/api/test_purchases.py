"""POST /api/tokens/purchases: a pending row, a started workflow, idempotent and rate limited."""

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from temporalio.client import Client
from temporalio.service import RPCError

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
from tokenbill.devstack.ports import free_port
from tokenbill.settings import Settings
from workflows.search_attributes import ORGANIZATION_ID, PURCHASE_REFERENCE

MakeOrganization = Callable[..., Awaitable[int]]


@pytest.fixture
async def buyer(make_organization: MakeOrganization, make_user: MakeUser) -> ApiUser:
    return await make_user(await make_organization(), ("tokens.view", "tokens.purchase"))


def purchase_body(buyer: ApiUser, package: int, **extra: object) -> dict[str, object]:
    return {
        "organization_id": buyer.organization_id,
        "package_id": package,
        "payment_method": "pm_card_ok",
        **extra,
    }


async def purchases_of(session_maker: Maker, organization_id: int | None) -> int:
    return await count_rows(
        session_maker, "token_purchases", "organization_id = :o", o=organization_id
    )


async def test_purchase_is_recorded_pending_and_its_workflow_started(
    client: httpx.AsyncClient,
    buyer: ApiUser,
    make_package: MakePackage,
    session_maker: Maker,
    temporal_client: Client,
    api_settings: Settings,
):
    package = await make_package("500", "0.50")
    request_id = new_request_id()
    response = await client.post(
        "/api/tokens/purchases",
        json=purchase_body(buyer, package, quantity=3),
        headers=buyer.headers(**{"Idempotency-Key": new_key(), "X-Request-ID": request_id}),
    )
    assert response.status_code == 202, response.text
    accepted = response.json()
    reference = accepted["purchase_reference_id"]
    assert re.fullmatch(r"TKP-[0-9A-F]{20}", reference)
    assert accepted == {
        "purchase_reference_id": reference,
        "workflow_id": f"purchase-{reference}",
        "status": "pending",
    }

    detail = await client.get(f"/api/tokens/purchases/{reference}", headers=buyer.headers())
    assert detail.status_code == 200
    purchase = detail.json()
    assert purchase["status"] == "pending"
    assert purchase["token_quantity"] == "1500"
    assert purchase["price_per_token"] == "0.50"
    assert (purchase["subtotal_amount"], purchase["tax_rate"]) == ("750.00", "0.16")
    assert (purchase["tax_amount"], purchase["total_amount"]) == ("120.00", "870.00")
    assert purchase["purchased_by_user_id"] == buyer.id
    assert purchase["invoice_number"] is None
    assert purchase["created_at"].endswith("+00:00") or purchase["created_at"].endswith("Z")

    async with session_maker() as session:
        audit = (
            await session.execute(
                text(
                    "SELECT actor_id, ip_address, organization_id FROM token_audit_logs "
                    "WHERE request_id = :rid AND action = 'purchase.create'"
                ),
                {"rid": request_id},
            )
        ).one()
        wallets = await session.scalar(
            text("SELECT count(*) FROM organization_token_wallets WHERE organization_id = :o"),
            {"o": buyer.organization_id},
        )
    assert audit == (str(buyer.id), "203.0.113.7", buyer.organization_id)
    assert wallets == 1

    description = await temporal_client.get_workflow_handle(accepted["workflow_id"]).describe()
    assert description.workflow_type == "PurchaseWorkflow"
    assert description.task_queue == api_settings.temporal_task_queue
    attributes = description.typed_search_attributes
    assert attributes.get(ORGANIZATION_ID) == str(buyer.organization_id)
    assert attributes.get(PURCHASE_REFERENCE) == reference


async def test_replayed_idempotency_key_returns_the_first_purchase(
    client: httpx.AsyncClient,
    buyer: ApiUser,
    make_package: MakePackage,
    session_maker: Maker,
    temporal_client: Client,
):
    package = await make_package()
    headers = buyer.headers(**{"Idempotency-Key": new_key()})
    first = await client.post(
        "/api/tokens/purchases", json=purchase_body(buyer, package), headers=headers
    )
    second = await client.post(
        "/api/tokens/purchases", json=purchase_body(buyer, package), headers=headers
    )
    assert (first.status_code, second.status_code) == (202, 202)
    assert second.json() == first.json()
    assert await purchases_of(session_maker, buyer.organization_id) == 1
    query = f'OrganizationId = "{buyer.organization_id}"'
    seen: list[str] = []
    for _ in range(50):  # the dev server's visibility store catches up within moments
        seen = [w.id async for w in temporal_client.list_workflows(query)]
        if seen:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)
    seen = [w.id async for w in temporal_client.list_workflows(query)]
    assert seen == [first.json()["workflow_id"]]


async def test_same_key_with_another_body_is_refused(
    client: httpx.AsyncClient, buyer: ApiUser, make_package: MakePackage, session_maker: Maker
):
    package = await make_package()
    headers = buyer.headers(**{"Idempotency-Key": new_key()})
    first = await client.post(
        "/api/tokens/purchases", json=purchase_body(buyer, package), headers=headers
    )
    other = await client.post(
        "/api/tokens/purchases", json=purchase_body(buyer, package, quantity=2), headers=headers
    )
    assert first.status_code == 202
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert await purchases_of(session_maker, buyer.organization_id) == 1


async def test_a_key_still_in_progress_answers_409(
    client: httpx.AsyncClient, buyer: ApiUser, make_package: MakePackage, session_maker: Maker
):
    package = await make_package()
    key = new_key()
    first = await client.post(
        "/api/tokens/purchases",
        json=purchase_body(buyer, package),
        headers=buyer.headers(**{"Idempotency-Key": key}),
    )
    async with session_maker() as session, session.begin():
        await session.execute(
            text(
                "UPDATE idempotency_records SET response_status = NULL, response_body = NULL "
                "WHERE key = :k"
            ),
            {"k": key},
        )
    again = await client.post(
        "/api/tokens/purchases",
        json=purchase_body(buyer, package),
        headers=buyer.headers(**{"Idempotency-Key": key}),
    )
    assert first.status_code == 202
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "idempotency_request_in_progress"
    assert await purchases_of(session_maker, buyer.organization_id) == 1


async def test_concurrent_requests_with_one_key_make_one_purchase(
    client: httpx.AsyncClient, buyer: ApiUser, make_package: MakePackage, session_maker: Maker
):
    package = await make_package()
    headers = buyer.headers(**{"Idempotency-Key": new_key()})
    answers = await asyncio.gather(
        *(
            client.post(
                "/api/tokens/purchases", json=purchase_body(buyer, package), headers=headers
            )
            for _ in range(5)
        )
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(202) >= 1
    assert set(statuses) <= {202, 409}
    references = {a.json()["purchase_reference_id"] for a in answers if a.status_code == 202}
    assert len(references) == 1
    assert await purchases_of(session_maker, buyer.organization_id) == 1


async def test_keys_are_scoped_by_user(
    client: httpx.AsyncClient,
    buyer: ApiUser,
    make_user: MakeUser,
    make_package: MakePackage,
    session_maker: Maker,
):
    colleague = await make_user(buyer.organization_id, ("tokens.purchase",))
    package = await make_package()
    key = new_key()
    mine = await client.post(
        "/api/tokens/purchases",
        json=purchase_body(buyer, package),
        headers=buyer.headers(**{"Idempotency-Key": key}),
    )
    theirs = await client.post(
        "/api/tokens/purchases",
        json=purchase_body(buyer, package),
        headers=colleague.headers(**{"Idempotency-Key": key}),
    )
    assert (mine.status_code, theirs.status_code) == (202, 202)
    assert mine.json() != theirs.json()
    assert await purchases_of(session_maker, buyer.organization_id) == 2


async def test_purchases_over_the_rate_limit_get_429_with_retry_after(
    api_settings: Settings, buyer: ApiUser, make_package: MakePackage, session_maker: Maker
):
    package = await make_package()
    limited = api_settings.model_copy(update={"purchase_rate_limit": 2})
    async with api_client(limited) as client:
        answers = [
            await client.post(
                "/api/tokens/purchases",
                json=purchase_body(buyer, package),
                headers=buyer.headers(**{"Idempotency-Key": new_key()}),
            )
            for _ in range(3)
        ]
    assert [a.status_code for a in answers] == [202, 202, 429]
    refused = answers[2]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert await purchases_of(session_maker, buyer.organization_id) == 2


async def test_rate_limit_is_shared_by_every_api_instance(
    api_settings: Settings, buyer: ApiUser, make_package: MakePackage
):
    package = await make_package()
    limited = api_settings.model_copy(update={"purchase_rate_limit": 1})
    async with api_client(limited) as one, api_client(limited) as two:
        first = await one.post(
            "/api/tokens/purchases",
            json=purchase_body(buyer, package),
            headers=buyer.headers(**{"Idempotency-Key": new_key()}),
        )
        second = await two.post(
            "/api/tokens/purchases",
            json=purchase_body(buyer, package),
            headers=buyer.headers(**{"Idempotency-Key": new_key()}),
        )

    assert (first.status_code, second.status_code) == (202, 429)


async def test_unreachable_temporal_fails_the_purchase_and_frees_the_key(
    api_settings: Settings, buyer: ApiUser, make_package: MakePackage, session_maker: Maker
):
    package = await make_package()
    down = api_settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})
    key = new_key()
    async with api_client(down) as client:
        answers = [
            await client.post(
                "/api/tokens/purchases",
                json=purchase_body(buyer, package),
                headers=buyer.headers(**{"Idempotency-Key": key}),
            )
            for _ in range(2)
        ]
    for answer in answers:
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "workflow_unavailable"
    async with session_maker() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT status, failure_reason, failed_at FROM token_purchases "
                    "WHERE organization_id = :o"
                ),
                {"o": buyer.organization_id},
            )
        ).all()
    assert len(rows) == 2
    for status, reason, failed_at in rows:
        assert status == "failed"
        assert "could not be started" in reason
        assert failed_at is not None
    assert await count_rows(session_maker, "idempotency_records", "key = :k", k=key) == 0


async def test_waiting_on_a_pending_purchase_answers_after_the_wait(
    client: httpx.AsyncClient, buyer: ApiUser, make_package: MakePackage
):
    package = await make_package()
    created = await client.post(
        "/api/tokens/purchases",
        json=purchase_body(buyer, package),
        headers=buyer.headers(**{"Idempotency-Key": new_key()}),
    )
    reference = created.json()["purchase_reference_id"]
    started = time.monotonic()
    waited = await client.get(
        f"/api/tokens/purchases/{reference}?wait_seconds=1", headers=buyer.headers()
    )
    assert waited.status_code == 200
    assert waited.json()["status"] == "pending"
    assert time.monotonic() - started >= 0.9
    too_long = await client.get(
        f"/api/tokens/purchases/{reference}?wait_seconds=31", headers=buyer.headers()
    )
    assert too_long.status_code == 422


async def test_waiting_ends_when_the_workflow_closes(
    client: httpx.AsyncClient,
    buyer: ApiUser,
    make_package: MakePackage,
    temporal_client: Client,
):
    package = await make_package()
    created = await client.post(
        "/api/tokens/purchases",
        json=purchase_body(buyer, package),
        headers=buyer.headers(**{"Idempotency-Key": new_key()}),
    )
    accepted = created.json()
    started = time.monotonic()
    waiting = asyncio.create_task(
        client.get(
            f"/api/tokens/purchases/{accepted['purchase_reference_id']}?wait_seconds=20",
            headers=buyer.headers(),
        )
    )
    await asyncio.sleep(0.5)
    await temporal_client.get_workflow_handle(accepted["workflow_id"]).terminate("test")
    answer = await waiting
    assert answer.status_code == 200
    assert time.monotonic() - started < 10


async def test_purchase_history_filters_and_pages(
    client: httpx.AsyncClient,
    buyer: ApiUser,
    make_package: MakePackage,
    session_maker: Maker,
    admin: ApiUser,
):
    package = await make_package()
    for _ in range(3):
        created = await client.post(
            "/api/tokens/purchases",
            json=purchase_body(buyer, package),
            headers=buyer.headers(**{"Idempotency-Key": new_key()}),
        )
        assert created.status_code == 202
    async with session_maker() as session, session.begin():
        await session.execute(
            text(
                "UPDATE token_purchases SET status = 'failed', created_at = '2020-01-01Z' "
                "WHERE id = (SELECT min(id) FROM token_purchases WHERE organization_id = :o)"
            ),
            {"o": buyer.organization_id},
        )

    async def listing(params: dict[str, str | int], user: ApiUser = buyer) -> dict[str, Any]:
        response = await client.get("/api/tokens/purchases", params=params, headers=user.headers())
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    own = await listing({})
    assert own["total"] == 3
    assert {p["organization_id"] for p in own["items"]} == {buyer.organization_id}
    assert (await listing({"status": "pending"}))["total"] == 2
    assert (await listing({"status": "failed"}))["total"] == 1
    assert (await listing({"created_to": "2021-01-01T00:00:00Z"}))["total"] == 1
    assert (await listing({"created_from": "2021-01-01T00:00:00+02:00"}))["total"] == 2
    page = await listing({"limit": 2, "offset": 2})
    assert (page["total"], len(page["items"]), page["limit"]) == (3, 1, 2)
    by_admin = await listing({"organization_id": str(buyer.organization_id)}, admin)
    assert by_admin["total"] == 3
    assert Decimal(by_admin["items"][0]["total_amount"]) == Decimal("290.00")


class SimulatedCrash(BaseException):
    """The API process dying between its commit and the workflow start."""


async def test_replay_after_a_crash_before_the_start_starts_the_workflow(
    client: httpx.AsyncClient,
    buyer: ApiUser,
    make_package: MakePackage,
    session_maker: Maker,
    temporal_client: Client,
    monkeypatch: pytest.MonkeyPatch,
):
    package = await make_package()
    headers = buyer.headers(**{"Idempotency-Key": new_key()})

    def crash(*args: Any, **kwargs: Any) -> None:
        raise SimulatedCrash

    monkeypatch.setattr("services.purchases.commands.start_recorded_purchase", crash)
    with pytest.raises((SimulatedCrash, BaseExceptionGroup)):
        await client.post(
            "/api/tokens/purchases", json=purchase_body(buyer, package), headers=headers
        )
    monkeypatch.undo()
    async with session_maker() as session:
        reference = await session.scalar(
            text("SELECT purchase_reference_id FROM token_purchases WHERE organization_id = :o"),
            {"o": buyer.organization_id},
        )
    handle = temporal_client.get_workflow_handle(f"purchase-{reference}")
    with pytest.raises(RPCError):
        await handle.describe()

    replay = await client.post(
        "/api/tokens/purchases", json=purchase_body(buyer, package), headers=headers
    )

    assert replay.status_code == 202
    assert replay.json()["purchase_reference_id"] == reference
    assert (await handle.describe()).workflow_type == "PurchaseWorkflow"
    assert await purchases_of(session_maker, buyer.organization_id) == 1


async def test_a_purchase_waiting_for_the_customer_says_what_they_must_do(
    client: httpx.AsyncClient, buyer: ApiUser, make_package: MakePackage, session_maker: Maker
):
    package = await make_package()
    created = await client.post(
        "/api/tokens/purchases",
        json=purchase_body(buyer, package, payment_method="pm_card_authenticationRequired"),
        headers=buyer.headers(**{"Idempotency-Key": new_key()}),
    )
    reference = created.json()["purchase_reference_id"]
    before = await client.get(f"/api/tokens/purchases/{reference}", headers=buyer.headers())
    assert before.json()["payment_action"] is None
    # As the charge activity leaves it when Stripe answers requires_action (no worker here).
    async with session_maker() as session, session.begin():
        await session.execute(
            text(
                "UPDATE token_purchases SET status = 'processing' WHERE purchase_reference_id = :r"
            ),
            {"r": reference},
        )
        await session.execute(
            text(
                "INSERT INTO stripe_payment_actions (organization_id, payment_intent_id, "
                "workflow_id, reference, client_secret, action_url, status) VALUES (:o, 'pi_w', "
                "'purchase-x', :r, 'pi_w_secret_1', 'http://127.0.0.1/3ds', 'requires_action')"
            ),
            {"o": buyer.organization_id, "r": reference},
        )
    waiting = await client.get(f"/api/tokens/purchases/{reference}", headers=buyer.headers())
    assert waiting.json()["status"] == "processing"
    assert waiting.json()["payment_action"] == {
        "payment_reference": "pi_w",
        "client_secret": "pi_w_secret_1",
        "action_url": "http://127.0.0.1/3ds",
    }
