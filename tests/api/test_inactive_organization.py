"""A deactivated organization (issue 10, item 6): its purchases and its users' configuration
changes answer 409 organization_inactive and change nothing; an admin still reads it and
reactivates it, after which its users act again."""

import httpx

from tests.api.helpers import ApiUser, MakePackage, Maker, MakeUser, count_rows, new_key


async def deactivate(client: httpx.AsyncClient, admin: ApiUser, organization_id: int) -> None:
    answer = await client.post(
        f"/api/tokens/admin/organizations/{organization_id}/deactivate", headers=admin.headers()
    )
    assert answer.status_code == 200, answer.text


def assert_inactive(answer: httpx.Response, organization_id: int) -> None:
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["details"]) == (
        "organization_inactive",
        {"organization_id": organization_id},
    )


async def test_a_deactivated_organizations_purchase_is_refused_with_409(
    client: httpx.AsyncClient,
    admin: ApiUser,
    make_user: MakeUser,
    make_organization,
    make_package: MakePackage,
    session_maker: Maker,
):
    organization_id = await make_organization()
    buyer = await make_user(organization_id)
    await deactivate(client, admin, organization_id)

    answer = await client.post(
        "/api/tokens/purchases",
        json={"organization_id": organization_id, "package_id": await make_package(),
              "payment_method": "pm_card_ok"},
        headers=buyer.headers(**{"Idempotency-Key": new_key()}),
    )  # fmt: skip

    assert_inactive(answer, organization_id)
    assert (
        await count_rows(
            session_maker, "token_purchases", "organization_id = :o", o=organization_id
        )
        == 0
    )


async def test_a_deactivated_organizations_users_cannot_change_its_configuration(
    client: httpx.AsyncClient,
    admin: ApiUser,
    make_user: MakeUser,
    make_organization,
    make_package: MakePackage,
    session_maker: Maker,
):
    organization_id = await make_organization()
    configurer = await make_user(organization_id)
    wallet = f"/api/tokens/wallet/{organization_id}"
    await deactivate(client, admin, organization_id)
    policy = {
        "threshold": "100", "package_id": await make_package(), "payment_method": "pm_card_ok",
        "max_topups_per_day": 2, "max_monthly_spend": "1000.00", "cooldown": "PT30M",
    }  # fmt: skip

    thresholds = await client.put(
        f"{wallet}/thresholds", json={"low": "50", "critical": "10"}, headers=configurer.headers()
    )
    auto_topup = await client.put(f"{wallet}/auto-topup", json=policy, headers=configurer.headers())

    assert_inactive(thresholds, organization_id)
    assert_inactive(auto_topup, organization_id)
    assert (
        await count_rows(
            session_maker, "auto_topup_policies", "organization_id = :o", o=organization_id
        )
        == 0
    )
    assert (await client.get(wallet, headers=admin.headers())).status_code == 200

    reactivated = await client.post(
        f"/api/tokens/admin/organizations/{organization_id}/reactivate", headers=admin.headers()
    )
    assert reactivated.status_code == 200 and reactivated.json()["is_active"] is True
    again = await client.put(
        f"{wallet}/thresholds", json={"low": "50", "critical": "10"}, headers=configurer.headers()
    )
    assert again.status_code == 200, again.text
    assert await count_rows(
        session_maker, "token_audit_logs",
        "organization_id = :o AND action = 'organization.reactivate'", o=organization_id,
    ) == 1  # fmt: skip
