"""Finance figures over HTTP against hand-computed ones on prepared XTS data."""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import text

from api.auth.jwt_tokens import issue_token
from db import ledger
from tests.api.helpers import ApiUser, Maker, MakeUser
from tests.finance_helpers import (
    TEST_CURRENCY,
    insert_invoice,
    insert_purchase,
    insert_subscription,
    make_finance_user,
    make_package,
)
from tokenbill.settings import Settings

MakeOrganization = Callable[..., Awaitable[int]]


def xts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [row for row in rows if row["currency"] == TEST_CURRENCY]


def figures(rows: list[dict[str, Any]], key: str) -> dict[str, tuple[int, Decimal, Decimal]]:
    """XTS rows by `key`: (purchases, revenue, net revenue)."""
    return {
        str(r[key]): (r["purchases"], Decimal(r["revenue"]), Decimal(r["net_revenue"]))
        for r in xts(rows)
    }


def added(
    before: dict[str, tuple[int, Decimal, Decimal]], after: dict[str, tuple[int, Decimal, Decimal]]
) -> dict[str, tuple[int, str, str]]:
    """What the test's own purchases added to each row (other tests' XTS purchases of the same
    days, on the shared database, are in both readings)."""
    zero = (0, Decimal(0), Decimal(0))
    changes: dict[str, tuple[int, str, str]] = {}
    for key, (n, revenue, net) in after.items():
        n_before, revenue_before, net_before = before.get(key, zero)
        if n != n_before:
            changes[key] = (
                n - n_before,
                f"{revenue - revenue_before:.2f}",
                f"{net - net_before:.2f}",
            )
    return changes


async def test_revenue_counts_completed_purchases_by_day_package_and_kind(
    client: httpx.AsyncClient,
    admin: ApiUser,
    session_maker: Maker,
    make_organization: MakeOrganization,
):
    org = await make_organization()
    pack_a = await make_package(session_maker, "100", "0.50")  # 50.00 + 8.00 tax
    pack_b = await make_package(session_maker, "500", "0.40")  # 200.00 + 32.00 tax
    now = datetime.now(UTC)
    yesterday = now - timedelta(days=1)
    url = "/api/tokens/finance/revenue?days=30"
    earlier = (await client.get(url, headers=admin.headers())).json()
    for package, tokens, price, kind, status, at in (
        (pack_a, "100", "0.50", "one_time", "completed", now),
        (pack_b, "500", "0.40", "subscription", "completed", yesterday),
        (pack_a, "100", "0.50", "auto_topup", "completed", yesterday),
        (pack_a, "100", "0.50", "one_time", "failed", now),
        (pack_a, "100", "0.50", "one_time", "completed", now - timedelta(days=40)),
    ):
        await insert_purchase(
            session_maker, organization_id=org, package_id=package, tokens=tokens, price=price,
            kind=kind, status=status, created_at=at,
        )  # fmt: skip

    response = await client.get(url, headers=admin.headers())

    assert response.status_code == 200
    body = response.json()
    assert body["days"] == 30
    assert body["until"] == now.date().isoformat()
    assert added(figures(earlier["by_day"], "date"), figures(body["by_day"], "date")) == {
        now.date().isoformat(): (1, "58.00", "50.00"),
        yesterday.date().isoformat(): (2, "290.00", "250.00"),
    }
    by_kind = added(figures(earlier["by_kind"], "kind"), figures(body["by_kind"], "kind"))
    assert {kind: (n, revenue) for kind, (n, revenue, _) in by_kind.items()} == {
        "one_time": (1, "58.00"),
        "subscription": (1, "232.00"),
        "auto_topup": (1, "58.00"),
    }
    by_package = {r["package_id"]: r for r in xts(body["by_package"])}
    assert (by_package[pack_a]["purchases"], by_package[pack_a]["revenue"]) == (2, "116.00")
    assert (by_package[pack_b]["purchases"], by_package[pack_b]["tokens"]) == (1, "500")
    assert by_package[pack_b]["package_name"].startswith("Finance Pack")
    assert added(figures(earlier["totals"], "currency"), figures(body["totals"], "currency")) == {
        "XTS": (3, "348.00", "300.00")
    }


async def test_summary_normalises_subscriptions_to_a_month_and_values_unspent_paid_tokens(
    client: httpx.AsyncClient,
    admin: ApiUser,
    session_maker: Maker,
    make_organization: MakeOrganization,
):
    before = (await client.get("/api/tokens/finance/summary", headers=admin.headers())).json()
    org = await make_organization()
    org_low = await make_organization()
    org_own_threshold = await make_organization()
    pack_a = await make_package(session_maker, "100", "0.50")  # 50.00 a cycle
    pack_b = await make_package(session_maker, "500", "0.40")  # 200.00 a cycle
    for package, interval in ((pack_b, "P1M"), (pack_a, "P1Y"), (pack_a, "P7D")):
        await insert_subscription(
            session_maker, organization_id=org, package_id=package, interval=interval,
            status="active",
        )  # fmt: skip
    late = await insert_subscription(
        session_maker, organization_id=org, package_id=pack_b, interval="P1M", status="past_due"
    )
    on_time = await insert_subscription(
        session_maker, organization_id=org, package_id=pack_b, interval="P1M", status="paused"
    )
    await insert_invoice(session_maker, organization_id=org, total="232.00", status="open",
                         subscription_id=late)  # fmt: skip
    await insert_invoice(session_maker, organization_id=org, total="232.00", status="paid",
                         subscription_id=late)  # fmt: skip
    await insert_invoice(session_maker, organization_id=org, total="99.00", status="open",
                         subscription_id=on_time)  # fmt: skip
    now = datetime.now(UTC)
    first = await insert_purchase(
        session_maker, organization_id=org, package_id=pack_a, tokens="100", price="0.50",
        kind="one_time", status="completed", created_at=now,
    )  # fmt: skip
    second = await insert_purchase(
        session_maker, organization_id=org, package_id=pack_b, tokens="500", price="0.40",
        kind="subscription", status="completed", created_at=now,
    )  # fmt: skip
    async with session_maker() as session, session.begin():
        wallet = await ledger.ensure_wallet(session, org)
        await ledger.credit(session, wallet_id=wallet, amount=Decimal("100"),
                            idempotency_key=f"test:{first}:credit", reference=first)  # fmt: skip
        await ledger.debit(session, wallet_id=wallet, amount=Decimal("30"),
                           idempotency_key=f"test:{first}:spend")  # fmt: skip
        await ledger.credit(session, wallet_id=wallet, amount=Decimal("500"),
                            idempotency_key=f"test:{second}:credit", reference=second)  # fmt: skip
        await ledger.ensure_wallet(session, org_low)
        own = await ledger.ensure_wallet(session, org_own_threshold)
        await ledger.credit(session, wallet_id=own, amount=Decimal("50"), kind="adjustment",
                            idempotency_key=f"test:{own}:grant")  # fmt: skip
    async with session_maker() as session, session.begin():
        await session.execute(
            text("UPDATE organization_token_wallets SET low_balance_threshold = 10 "
                        "WHERE id = :w"), {"w": own},
        )  # fmt: skip

    response = await client.get("/api/tokens/finance/summary", headers=admin.headers())

    assert response.status_code == 200
    body = response.json()
    assert body["active_subscriptions"] == before["active_subscriptions"] + 3
    # 200.00 monthly + 50.00 / 12 + 50.00 x 30.436875 / 7 = 200 + 4.1667 + 217.40625 = 421.57
    assert xts(body["monthly_recurring_revenue"]) == [
        {"currency": "XTS", "amount": "421.57", "count": 3}
    ]
    assert xts(body["past_due"]) == [{"currency": "XTS", "amount": "232.00", "count": 1}]
    # 70 tokens left of the first lot at 0.50 and 500 of the second at 0.40.
    assert xts(body["unspent_paid_tokens"]) == [
        {"currency": "XTS", "tokens": "570", "value": "235.00"}
    ]
    # org_low (0 < default 100) only: org_own_threshold has 50, above its own threshold of 10.
    assert body["wallets_under_low_threshold"] == before["wallets_under_low_threshold"] + 1
    assert body["default_low_threshold"] == "100"


async def test_finance_routes_refuse_a_viewer_and_admit_finance_staff(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    make_organization: MakeOrganization,
    session_maker: Maker,
    settings: Settings,
):
    viewer = await make_user(await make_organization(), ("tokens.view", "tokens.purchase"))
    finance = issue_token(settings, await make_finance_user(session_maker))

    refused = await client.get("/api/tokens/finance/summary", headers=viewer.headers())
    admitted = await client.get(
        "/api/tokens/finance/revenue", headers={"Authorization": f"Bearer {finance}"}
    )

    assert refused.status_code == 403
    assert refused.json()["error"]["details"] == {"permission": "finance"}
    assert admitted.status_code == 200
