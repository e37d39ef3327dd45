"""Subscriptions over HTTP through the real API, worker and Temporal dev server, with
second-long billing intervals and dunning (see stack_environment)."""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.e2e.test_purchase_end_to_end import Maker, buyer_token
from tests.purchase_helpers import create_package
from tests.running_stack import RunningStack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
MakeOrganization = Callable[..., Awaitable[int]]
BASE = "/api/tokens/subscriptions"


async def subscribe(client: httpx.AsyncClient, organization_id: int, package_id: int,
                    **extra: str) -> int:  # fmt: skip
    answer = await client.post(
        BASE,
        json={"organization_id": organization_id, "package_id": package_id,
              "payment_method": "pm_card_ok", **extra},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    subscription_id: int = answer.json()["subscription_id"]
    return subscription_id


async def command(client: httpx.AsyncClient, subscription_id: int, name: str,
                  body: dict[str, str]) -> httpx.Response:  # fmt: skip
    return await client.post(f"{BASE}/{subscription_id}/{name}", json=body,
                             headers={"Idempotency-Key": uuid.uuid4().hex})  # fmt: skip


async def until(client: httpx.AsyncClient, subscription_id: int, seconds: float = 30,
                **wanted: Any) -> dict[str, Any]:  # fmt: skip
    deadline = time.monotonic() + seconds
    while True:
        body: dict[str, Any] = (await client.get(f"{BASE}/{subscription_id}")).json()
        if all(body.get(k) == v for k, v in wanted.items()):
            return body
        assert time.monotonic() < deadline, f"subscription never showed {wanted}: {body}"
        await asyncio.sleep(0.25)


async def paid_invoices(client: httpx.AsyncClient, subscription_id: int) -> list[dict[str, Any]]:
    page = (await client.get(f"{BASE}/{subscription_id}/invoices")).json()
    return [i for i in page["items"] if i["status"] == "paid"]


async def test_second_long_cycles_renew_over_http(
    running_stack: RunningStack, session_maker: Maker, make_organization: MakeOrganization
) -> None:
    organization_id = await make_organization()
    token = await buyer_token(running_stack, session_maker, organization_id)
    async with running_stack.client(token) as client:
        subscription_id = await subscribe(client, organization_id,
                                          await create_package(session_maker),
                                          billing_interval="PT3S")  # fmt: skip
        deadline = time.monotonic() + 60
        while len(await paid_invoices(client, subscription_id)) < 3:
            assert time.monotonic() < deadline, "three cycles did not happen within a minute"
            await asyncio.sleep(0.5)
        cancelled = await command(client, subscription_id, "cancel", {"when": "immediately"})
        assert cancelled.json()["status"] == "cancelled"
        await until(client, subscription_id, status="cancelled")
        paid = await paid_invoices(client, subscription_id)
        wallet = (await client.get(f"/api/tokens/wallet/{organization_id}")).json()
    assert Decimal(wallet["current_balance"]) == Decimal("500") * len(paid)
    assert {i["total"] for i in paid} == {"290.00"}


async def test_decline_and_recovery_show_in_the_api(
    running_stack: RunningStack, session_maker: Maker, make_organization: MakeOrganization
) -> None:
    organization_id = await make_organization()
    token = await buyer_token(running_stack, session_maker, organization_id)
    async with running_stack.client(token) as client:
        subscription_id = await subscribe(
            client, organization_id, await create_package(session_maker),
            payment_method="pm_card_declined", billing_interval="P1D", grace_period="PT60S",
        )  # fmt: skip
        past_due = await until(client, subscription_id, status="past_due", dunning_attempt=2)
        assert "declined" in past_due["last_payment_error"]
        assert past_due["grace_period_ends_at"] is not None

        answer = await command(client, subscription_id, "payment-method",
                               {"payment_method": "pm_card_ok"})  # fmt: skip
        assert answer.status_code == 200, answer.text
        active = await until(client, subscription_id, status="active", dunning_attempt=0)
        assert active["last_payment_error"] is None
        assert len(await paid_invoices(client, subscription_id)) == 1
        await command(client, subscription_id, "cancel", {"when": "immediately"})


async def test_worker_killed_during_grace_period_charges_each_attempt_once(
    running_stack: RunningStack, session_maker: Maker, make_organization: MakeOrganization
) -> None:
    organization_id = await make_organization()
    token = await buyer_token(running_stack, session_maker, organization_id)
    async with running_stack.client(token) as client:
        subscription_id = await subscribe(
            client, organization_id, await create_package(session_maker),
            payment_method="pm_card_insufficient_funds", billing_interval="P1D",
            grace_period="PT120S",
        )  # fmt: skip
        await until(client, subscription_id, status="past_due")
        running_stack.worker.kill()
        await asyncio.sleep(5)  # the dunning retries fall due while no worker runs
        running_stack.worker.start()
        await until(client, subscription_id, seconds=60, status="past_due", dunning_attempt=3)
        await command(client, subscription_id, "payment-method", {"payment_method": "pm_card_ok"})
        await until(client, subscription_id, seconds=60, status="active", dunning_attempt=0)
        await command(client, subscription_id, "cancel", {"when": "immediately"})

    async with session_maker() as session:
        per_key = (
            await session.execute(
                text(
                    "SELECT idempotency_key, count(*), min(status) FROM payment_gateway_operations"
                    " WHERE idempotency_key LIKE :k GROUP BY idempotency_key ORDER BY 1"
                ),
                {"k": f"subscription:{subscription_id}:%"},
            )
        ).all()
        credited = await session.scalar(
            text("SELECT count(*) FROM ledger_transactions WHERE idempotency_key LIKE :k"),
            {"k": f"subscription:{subscription_id}:%:credit"},
        )
    assert {count for _, count, _ in per_key} == {1}
    assert [status for _, _, status in per_key].count("succeeded") == 1
    assert len(per_key) == 4  # the charge, two scheduled retries, the new method's retry
    assert credited == 1
