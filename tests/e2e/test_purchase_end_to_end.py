"""Purchases driven over HTTP through the real API, worker and Temporal dev server."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.auth.jwt_tokens import issue_token
from chaos.gateway_book import stripe_book
from db.audit import Actor
from db.directory import PURCHASE, VIEW, create_user
from tests.payment_gateways import CardTable
from tests.purchase_helpers import create_package
from tests.running_stack import RunningStack
from tokenbill.devstack.stripe_standin.process import StandinProcess

Maker = async_sessionmaker[AsyncSession]


async def buyer_token(stack: RunningStack, session_maker: Maker, organization_id: int) -> str:
    async with session_maker() as session, session.begin():
        user = await create_user(
            session, email=f"buyer-{uuid.uuid4().hex[:10]}@e2e.test", user_type="insurance",
            organization_id=organization_id, permissions=[VIEW, PURCHASE],
            actor=Actor.system("e2e"),
        )  # fmt: skip
    return issue_token(stack.settings, user.id)


async def buy(
    client: httpx.AsyncClient, organization_id: int, package_id: int, card: str = "pm_card_ok"
) -> str:
    answer = await client.post(
        "/api/tokens/purchases",
        json={"organization_id": organization_id, "package_id": package_id, "payment_method": card},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert answer.status_code == 202, answer.text
    reference: str = answer.json()["purchase_reference_id"]
    return reference


async def settled(client: httpx.AsyncClient, reference: str, seconds: int = 30) -> dict[str, Any]:
    """The purchase once its workflow has finished (waiting server-side, then polling)."""
    for _ in range(6):
        answer = await client.get(
            f"/api/tokens/purchases/{reference}", params={"wait_seconds": seconds}
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        if body["status"] in ("completed", "failed", "refunded"):
            return body
    raise AssertionError(f"purchase {reference} did not settle: {body}")


async def test_business_pack_bought_over_http_lands_in_wallet_with_taxed_invoice(
    running_stack: RunningStack,
    session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
    e2e_temporal_client: Client,
):
    org = await make_organization()
    package = await create_package(session_maker)
    token = await buyer_token(running_stack, session_maker, org)
    async with running_stack.client(token) as client:
        reference = await buy(client, org, package)
        purchase = await settled(client, reference)
        assert purchase["status"] == "completed"
        assert Decimal(purchase["total_amount"]) == Decimal("290.00")

        wallet = (await client.get(f"/api/tokens/wallet/{org}")).json()
        assert Decimal(wallet["current_balance"]) == Decimal("500")

        invoice = (await client.get(f"/api/tokens/invoices/{purchase['invoice_number']}")).json()
        assert invoice["status"] == "paid"
        assert Decimal(invoice["tax_rate"]) == Decimal("0.16")
        assert (Decimal(invoice["subtotal"]), Decimal(invoice["tax_amount"])) == (
            Decimal("250.00"), Decimal("40.00"),
        )  # fmt: skip

    found = [w.id async for w in e2e_temporal_client.list_workflows(f'OrganizationId="{org}"')]
    assert found == [f"purchase-{reference}"]


async def test_twenty_concurrent_purchases_leave_the_exact_balance(
    running_stack: RunningStack,
    session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
):
    org = await make_organization()
    package = await create_package(session_maker)
    token = await buyer_token(running_stack, session_maker, org)
    async with running_stack.client(token, timeout=90) as client:
        references = await asyncio.gather(*(buy(client, org, package) for _ in range(20)))
        purchases = await asyncio.gather(*(settled(client, ref) for ref in references))
        assert {p["status"] for p in purchases} == {"completed"}
        assert len({p["invoice_number"] for p in purchases}) == 20
        wallet = (await client.get(f"/api/tokens/wallet/{org}")).json()
    assert Decimal(wallet["current_balance"]) == Decimal("10000")


@pytest.fixture
def gateway_stack(
    request: pytest.FixtureRequest, payment_gateway_kind: str
) -> tuple[RunningStack, Maker]:
    """The running stack on the gateway of this run, and sessions on its database."""
    if payment_gateway_kind == "sandbox":
        names = ("running_stack", "stack_session_maker")
    else:
        names = ("stripe_running_stack", "stripe_stack_session_maker")
    return request.getfixturevalue(names[0]), request.getfixturevalue(names[1])


async def succeeded_charges(
    request: pytest.FixtureRequest, kind: str, session_maker: Maker, keys: list[str]
) -> int:
    """How many of these charge keys the gateway itself holds as succeeded."""
    if kind == "stripe":
        standin: StandinProcess = request.getfixturevalue("stripe_standin_process")
        book = await stripe_book(standin.url, standin.api_key)
        return sum(
            1 for r in book.records or []
            if r.operation == "charge" and r.status == "succeeded" and r.key in keys
        )  # fmt: skip
    async with session_maker() as session:
        found = await session.scalar(
            text(
                "SELECT count(*) FROM payment_gateway_operations WHERE operation = 'charge' "
                "AND status = 'succeeded' AND idempotency_key = ANY(:keys)"
            ),
            {"keys": keys},
        )
    return int(found or 0)


async def test_worker_killed_mid_purchases_completes_each_exactly_once(
    request: pytest.FixtureRequest,
    gateway_stack: tuple[RunningStack, Maker],
    payment_gateway_kind: str,
    cards: CardTable,
):
    stack, session_maker = gateway_stack
    async with session_maker() as session, session.begin():
        org = await session.scalar(
            text("INSERT INTO organizations (name) VALUES (:n) RETURNING id"),
            {"n": f"E2E {uuid.uuid4().hex[:8]}"},
        )
    assert org is not None
    package = await create_package(session_maker)
    token = await buyer_token(stack, session_maker, org)
    methods = [cards.ok, cards.timeout_once, cards.soft_decline] * 4
    async with stack.client(token, timeout=120) as client:
        references = await asyncio.gather(*(buy(client, org, package, m) for m in methods))
        await until_some_purchase_is_charging(session_maker, references)
        stack.worker.kill()
        await asyncio.sleep(1)
        stack.worker.start()
        purchases = await asyncio.gather(*(settled(client, ref, 30) for ref in references))

    outcome = {p["purchase_reference_id"]: p["status"] for p in purchases}
    expected = {
        ref: "failed" if method == cards.soft_decline else "completed"
        for ref, method in zip(references, methods, strict=True)
    }
    assert outcome == expected
    charges = await succeeded_charges(
        request, payment_gateway_kind, session_maker,
        [f"purchase:{ref}:charge" for ref in references],
    )  # fmt: skip
    async with session_maker() as session:
        credits = await session.scalar(
            text("SELECT count(*) FROM ledger_transactions WHERE idempotency_key = ANY(:keys)"),
            {"keys": [f"purchase:{ref}:credit" for ref in references]},
        )
        balance = await session.scalar(
            text(
                "SELECT current_balance FROM organization_token_wallets WHERE organization_id = :o"
            ),
            {"o": org},
        )
    assert (charges, credits) == (8, 8)
    assert balance == Decimal("4000")


async def until_some_purchase_is_charging(session_maker: Maker, references: list[str]) -> None:
    """Wait until the worker has picked purchases up, so the kill lands mid-flight."""
    for _ in range(200):
        async with session_maker() as session:
            processing = await session.scalar(
                text(
                    "SELECT count(*) FROM token_purchases WHERE status = 'processing' "
                    "AND purchase_reference_id = ANY(:refs)"
                ),
                {"refs": references},
            )
        if processing:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("no purchase reached processing")
