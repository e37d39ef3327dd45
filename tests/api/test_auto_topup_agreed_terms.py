"""An automatic top-up policy keeps the terms it was set with: a catalog price change after it
does not alter what its top-ups cost, until the customer chooses another package. A policy
stored without caps is capped by the defaults, never unlimited."""

import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal

import httpx
from sqlalchemy import text
from temporalio.testing import ActivityEnvironment

from activities.auto_topup import AutoTopupActivities
from tests.api.helpers import ApiUser, MakePackage, Maker, MakeUser
from tests.notification_helpers import funded_wallet, set_policy
from tokenbill.settings import Settings
from workflows.auto_topup_types import EvaluateInput, TopupDecision, TopupTrigger


async def evaluate(
    settings: Settings, session_maker: Maker, organization_id: int, wallet_id: int
) -> TopupDecision:
    trigger = TopupTrigger(kind="threshold", key=f"event-{uuid.uuid4().hex[:8]}")
    decision: TopupDecision = await ActivityEnvironment().run(
        AutoTopupActivities(session_maker, settings).evaluate,
        EvaluateInput(wallet_id=wallet_id, organization_id=organization_id, trigger=trigger),
    )
    return decision


async def reprice(client: httpx.AsyncClient, admin: ApiUser, package_id: int, price: str) -> None:
    answer = await client.patch(
        f"/api/tokens/packages/{package_id}",
        json={"price_per_token": price},
        headers=admin.headers(),
    )
    assert answer.status_code == 200, answer.text


async def test_a_catalog_price_change_does_not_reprice_an_auto_topup_policy(
    client: httpx.AsyncClient,
    admin: ApiUser,
    make_organization: Callable[..., Awaitable[int]],
    make_user: MakeUser,
    make_package: MakePackage,
    settings: Settings,
    session_maker: Maker,
):
    organization_id = await make_organization()
    owner = await make_user(organization_id, ("tokens.view", "tokens.purchase", "tokens.configure"))
    package_id = await make_package()  # 500 tokens at 0.50
    wallet_id = await funded_wallet(session_maker, organization_id, "50")
    url = f"/api/tokens/wallet/{organization_id}/auto-topup"
    body = {"threshold": "100", "package_id": package_id, "payment_method": "pm_card_ok"}
    assert (await client.put(url, json=body, headers=owner.headers())).status_code == 200

    await reprice(client, admin, package_id, "5.00")
    set_again = await client.put(url, json=body, headers=owner.headers())
    decision = await evaluate(settings, session_maker, organization_id, wallet_id)

    assert decision.purchase is not None
    assert decision.purchase.price_per_token == Decimal("0.50")
    assert decision.purchase.subtotal_amount == Decimal("250.00")
    assert set_again.json()["agreed_price_per_token"] == "0.50"


async def test_choosing_another_package_takes_that_packages_current_terms(
    client: httpx.AsyncClient,
    admin: ApiUser,
    make_organization: Callable[..., Awaitable[int]],
    make_user: MakeUser,
    make_package: MakePackage,
    session_maker: Maker,
):
    organization_id = await make_organization()
    owner = await make_user(organization_id, ("tokens.view", "tokens.purchase", "tokens.configure"))
    first, second = await make_package(), await make_package()
    url = f"/api/tokens/wallet/{organization_id}/auto-topup"
    body = {"threshold": "100", "package_id": first, "payment_method": "pm_card_ok"}
    await client.put(url, json=body, headers=owner.headers())
    await reprice(client, admin, second, "0.40")

    switched = await client.put(url, json={**body, "package_id": second}, headers=owner.headers())

    assert switched.json()["agreed_price_per_token"] == "0.40"
    async with session_maker() as session:
        audited = (
            await session.execute(
                text(
                    "SELECT before->>'agreed_price_per_token' AS before, "
                    "after->>'agreed_price_per_token' AS after FROM token_audit_logs "
                    "WHERE action = 'auto_topup.policy_set' AND organization_id = :o "
                    "ORDER BY id DESC LIMIT 1"
                ),
                {"o": organization_id},
            )
        ).one()
    assert (audited.before, audited.after) == ("0.50", "0.40")


async def test_a_policy_stored_without_caps_is_capped_by_the_defaults(
    make_organization: Callable[..., Awaitable[int]],
    make_package: MakePackage,
    settings: Settings,
    session_maker: Maker,
):
    capped = settings.model_copy(update={"auto_topup_default_max_per_day": 1})
    organization_id = await make_organization()
    wallet_id = await funded_wallet(session_maker, organization_id, "50")
    await set_policy(
        session_maker, wallet_id, organization_id, threshold=Decimal(100),
        package_id=await make_package(),
    )  # fmt: skip

    first = await evaluate(capped, session_maker, organization_id, wallet_id)
    async with session_maker() as session, session.begin():
        await session.execute(
            text(
                "UPDATE token_purchases SET status = 'completed', completed_at = now() "
                "WHERE wallet_id = :w AND status = 'pending'"
            ),
            {"w": wallet_id},
        )
    second = await evaluate(capped, session_maker, organization_id, wallet_id)

    assert first.action == "purchase"
    assert (second.action, second.reason) == ("skip", "daily_cap_reached")
