"""The wallet view, its balance history, and invoices with their lines."""

from collections.abc import Awaitable, Callable
from decimal import Decimal

import httpx
import pytest

from db import ledger
from tests.api.helpers import ApiUser, MakePackage, Maker, MakeUser, insert_invoiced_purchase


@pytest.fixture
async def viewer(make_organization: Callable[..., Awaitable[int]], make_user: MakeUser) -> ApiUser:
    return await make_user(await make_organization(), ("tokens.view",))


async def test_an_organization_without_a_wallet_shows_zero(
    client: httpx.AsyncClient, viewer: ApiUser
):
    response = await client.get(
        f"/api/tokens/wallet/{viewer.organization_id}", headers=viewer.headers()
    )
    assert response.status_code == 200
    assert response.json() == {
        "organization_id": viewer.organization_id,
        "wallet_id": None,
        "current_balance": "0",
        "held_balance": "0",
        "available_balance": "0",
        "spendable_balance": "0",
        "expired_pending": "0",
        "total_purchased": "0",
        "total_consumed": "0",
        "currency": "USD",
        "thresholds": {"low": "100", "critical": "50"},
        "updated_at": None,
    }


async def test_wallet_and_history_follow_the_ledger(
    client: httpx.AsyncClient, viewer: ApiUser, session_maker: Maker
):
    async with session_maker() as session, session.begin():
        wallet = await ledger.ensure_wallet(session, viewer.organization_id or 0)
        await ledger.credit(
            session, wallet_id=wallet, amount=Decimal(500), idempotency_key=f"t:{wallet}:1"
        )
        await ledger.debit(
            session, wallet_id=wallet, amount=Decimal("12.5"), idempotency_key=f"t:{wallet}:2"
        )
        await ledger.credit(
            session, wallet_id=wallet, amount=Decimal(100), idempotency_key=f"t:{wallet}:3"
        )
    headers = viewer.headers()
    shown = (
        await client.get(f"/api/tokens/wallet/{viewer.organization_id}", headers=headers)
    ).json()
    assert (shown["wallet_id"], shown["current_balance"]) == (wallet, "587.5")
    assert (shown["total_purchased"], shown["total_consumed"]) == ("600", "12.5")
    assert shown["updated_at"] is not None

    history_url = f"/api/tokens/wallet/{viewer.organization_id}/history"
    history = (await client.get(history_url, headers=headers)).json()
    assert history["total"] == 3
    assert [h["change_amount"] for h in history["items"]] == ["100", "-12.5", "500"]
    assert [h["balance_after"] for h in history["items"]] == ["587.5", "487.5", "500"]
    spends = (await client.get(f"{history_url}?change_type=consumption", headers=headers)).json()
    assert [h["change_type"] for h in spends["items"]] == ["consumption"]
    future = (
        await client.get(
            history_url, params={"created_from": "2999-01-01T00:00:00Z"}, headers=headers
        )
    ).json()
    assert future["total"] == 0
    second_page = (await client.get(f"{history_url}?limit=1&offset=1", headers=headers)).json()
    assert [h["change_amount"] for h in second_page["items"]] == ["-12.5"]


async def test_invoice_shows_its_lines(
    client: httpx.AsyncClient, viewer: ApiUser, make_package: MakePackage, session_maker: Maker
):
    package = await make_package()
    reference, number = await insert_invoiced_purchase(
        session_maker, viewer.organization_id or 0, package
    )
    invoice = (await client.get(f"/api/tokens/invoices/{number}", headers=viewer.headers())).json()
    assert invoice["invoice_number"] == number
    assert invoice["purchase_reference_id"] == reference
    assert (invoice["subtotal"], invoice["tax_rate"], invoice["tax_amount"], invoice["total"]) == (
        "250.00",
        "0.16",
        "40.00",
        "290.00",
    )
    assert (invoice["issue_date"], invoice["due_date"], invoice["status"]) == (
        "2026-01-15",
        "2026-02-14",
        "paid",
    )
    assert invoice["lines"] == [
        {
            "description": "Test Pack x1",
            "package_id": package,
            "token_quantity": "500",
            "unit_price": "0.50",
            "amount": "250.00",
        }
    ]
    purchase = (
        await client.get(f"/api/tokens/purchases/{reference}", headers=viewer.headers())
    ).json()
    assert (purchase["status"], purchase["invoice_number"]) == ("completed", number)
