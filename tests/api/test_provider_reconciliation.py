"""The provider reconciliation: Stripe's balance transactions of a day (read page by page)
against the ledger's charges and refunds; what differs is reported and recorded."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
from sqlalchemy import text

from tests.api.helpers import ApiUser, MakePackage, Maker, count_rows, new_key
from tests.api.stripe_helpers import paid_purchase, standin, stripe_api, stripe_settings
from tokenbill.devstack.stripe_standin.server import StandinServer

__all__ = ["standin", "stripe_api", "stripe_settings"]


async def test_reconciliation_finds_injected_mismatches_across_pages(
    stripe_api: httpx.AsyncClient,
    standin: StandinServer,
    session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
    make_package: MakePackage,
    admin: ApiUser,
) -> None:
    org = await make_organization()
    package = await make_package()
    agreed = await paid_purchase(session_maker, standin, org, package)
    altered = await paid_purchase(session_maker, standin, org, package)
    async with session_maker() as session, session.begin():
        await session.execute(
            text(
                "UPDATE token_purchases SET total_amount = 291.00 WHERE purchase_reference_id = :r"
            ),
            {"r": altered.reference},
        )
    orphan = f"ch_orphan_{uuid.uuid4().hex[:12]}"
    standin.store.add_balance_transaction(
        type_="charge", amount=1234, currency="usd", source=orphan
    )
    for _ in range(150):  # payouts: not charges or refunds, but they make the listing page
        standin.store.add_balance_transaction(
            type_="payout", amount=-1, currency="usd", source="po_x"
        )
    charge_txn = standin.store.objects("charge")[agreed.charge]["balance_transaction"]
    created = standin.store.objects("balance_transaction")[charge_txn]["created"]
    day = datetime.fromtimestamp(created, UTC).date()

    answer = await stripe_api.post(
        "/api/tokens/finance/provider-reconciliation",
        json={"day": day.isoformat()},
        headers=admin.headers(**{"Idempotency-Key": new_key()}),
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    found = {m["subject"]: m for m in report["mismatches"]}
    assert found[f"charge:{altered.payment_intent}"] == {
        "kind": "provider_amount_mismatch", "subject": f"charge:{altered.payment_intent}",
        "expected": "290.00", "actual": "291.00",
    }  # fmt: skip
    assert found[f"charge:{orphan}"]["kind"] == "provider_missing_in_ledger"
    assert found[f"charge:{orphan}"]["expected"] == "12.34"
    assert f"charge:{agreed.payment_intent}" not in found
    assert report["provider_transactions"] >= 3
    assert await count_rows(
        session_maker, "reconciliation_mismatches", "run_id = :r", r=report["run_id"]
    ) == len(report["mismatches"])  # fmt: skip


async def test_a_charge_missing_at_the_provider_is_reported(
    stripe_api: httpx.AsyncClient,
    standin: StandinServer,
    session_maker: Maker,
    make_organization: Callable[..., Awaitable[int]],
    make_package: MakePackage,
    admin: ApiUser,
) -> None:
    purchase = await paid_purchase(
        session_maker, standin, await make_organization(), await make_package()
    )
    charge = standin.store.objects("charge")[purchase.charge]
    txn = standin.store.objects("balance_transaction").pop(charge["balance_transaction"])
    day = datetime.fromtimestamp(txn["created"], UTC).date()
    answer = await stripe_api.post(
        "/api/tokens/finance/provider-reconciliation",
        json={"day": day.isoformat()},
        headers=admin.headers(**{"Idempotency-Key": new_key()}),
    )
    found = {m["subject"]: m for m in answer.json()["mismatches"]}
    assert found[f"charge:{purchase.payment_intent}"]["kind"] == "provider_missing_at_provider"
    assert found[f"charge:{purchase.payment_intent}"]["actual"] == "290.00"


async def test_sandbox_gateway_cannot_reconcile_with_a_provider(
    client: httpx.AsyncClient, admin: ApiUser
) -> None:
    answer = await client.post(
        "/api/tokens/finance/provider-reconciliation",
        json={"day": "2026-02-28"},
        headers=admin.headers(**{"Idempotency-Key": new_key()}),
    )
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "payment_provider_not_configured"
