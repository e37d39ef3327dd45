"""The automatic top-up policy routes: set, read, remove; validation; permissions (a policy that
pays needs tokens.purchase and tokens.configure); caps that are never unlimited; audit."""

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.api.helpers import (
    ApiUser,
    MakePackage,
    Maker,
    MakeUser,
    api_client,
    count_rows,
    denied_audit_rows,
    new_request_id,
)
from tokenbill.settings import Settings


def path(organization_id: int | None) -> str:
    return f"/api/tokens/wallet/{organization_id}/auto-topup"


@pytest.fixture
async def configurer(make_user: MakeUser, make_organization) -> ApiUser:
    return await make_user(
        await make_organization(), ("tokens.view", "tokens.purchase", "tokens.configure")
    )


@pytest.fixture
async def package_id(make_package: MakePackage) -> int:
    return await make_package()


def policy(package: int, **changes: Any) -> dict[str, Any]:
    return {
        "threshold": "100",
        "package_id": package,
        "payment_method": "pm_card_ok",
        "max_topups_per_day": 2,
        "max_monthly_spend": "1000.00",
        "cooldown": "PT30M",
        **changes,
    }


async def test_policy_is_set_read_and_removed_with_audit(
    client: httpx.AsyncClient, configurer: ApiUser, package_id: int, session_maker: Maker
):
    url = path(configurer.organization_id)
    schedule = {"interval": "P1M", "anchor": "2030-01-31T09:00:00+00:00"}

    put = await client.put(
        url, json=policy(package_id, schedule=schedule), headers=configurer.headers()
    )
    got = await client.get(url, headers=configurer.headers())
    deleted = await client.delete(url, headers=configurer.headers())
    gone = await client.get(url, headers=configurer.headers())

    assert put.status_code == 200
    body = got.json()
    assert (body["threshold"], body["package_id"], body["cooldown"]) == ("100", package_id, "PT30M")
    assert body["schedule"]["interval"] == "P1M"
    assert (body["status"], body["system_enabled"], body["max_monthly_spend"]) == (
        "active",
        True,
        "1000.00",
    )
    assert deleted.status_code == 204
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "auto_topup_policy_not_found"
    assert await count_rows(
        session_maker, "token_audit_logs",
        "organization_id = :o AND action IN ('auto_topup.policy_set', 'auto_topup.policy_delete')",
        o=configurer.organization_id,
    ) == 2  # fmt: skip


async def test_setting_the_policy_again_reactivates_a_suspended_one(
    client: httpx.AsyncClient, configurer: ApiUser, package_id: int, session_maker: Maker
):
    url = path(configurer.organization_id)
    await client.put(url, json=policy(package_id), headers=configurer.headers())
    async with session_maker() as session, session.begin():
        await session.execute(
            text(
                "UPDATE auto_topup_policies SET status = 'suspended', consecutive_failures = 3, "
                "suspended_reason = 'card declined three times' WHERE organization_id = :o"
            ),
            {"o": configurer.organization_id},
        )
    suspended = (await client.get(url, headers=configurer.headers())).json()

    again = await client.put(url, json=policy(package_id), headers=configurer.headers())

    assert (suspended["status"], suspended["suspended_reason"]) == (
        "suspended",
        "card declined three times",
    )
    assert (again.json()["status"], again.json()["consecutive_failures"]) == ("active", 0)


@pytest.mark.parametrize(
    "changes",
    [
        {"threshold": None},  # neither a threshold nor a schedule
        {"target_balance": "1000"},  # both a package and a target
        {"package_id": None},  # neither
        {"package_id": None, "target_balance": "50"},  # target not above the threshold
        {"schedule": {"interval": "P0D", "anchor": "2030-01-01T00:00:00+00:00"}},
        {"schedule": {"interval": "PT10S", "anchor": "2030-01-01T00:00:00+00:00"}},
        {"schedule": {"interval": "monthly", "anchor": "2030-01-01T00:00:00+00:00"}},
        {"schedule": {"interval": "P1D", "anchor": "2030-01-01T00:00:00"}},  # no zone
        {"cooldown": "-PT1H"},
        {"max_topups_per_day": 0},
        {"max_monthly_spend": "-5"},
        {"payment_method": "visa"},
        {"threshold": "-1"},
        {"surprise": True},
    ],
)
async def test_invalid_policy_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient,
    configurer: ApiUser,
    package_id: int,
    session_maker: Maker,
    changes: dict[str, Any],
):
    answer = await client.put(
        path(configurer.organization_id), json=policy(package_id, **changes),
        headers=configurer.headers(),
    )  # fmt: skip

    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "validation_error"
    assert await count_rows(
        session_maker, "auto_topup_policies", "organization_id = :o", o=configurer.organization_id
    ) == 0  # fmt: skip


async def test_inactive_package_is_refused(
    client: httpx.AsyncClient, configurer: ApiUser, make_package: MakePackage
):
    inactive = await make_package(active=False)

    answer = await client.put(
        path(configurer.organization_id), json=policy(inactive), headers=configurer.headers()
    )

    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "package_unavailable"


async def test_policy_routes_need_configure_on_the_own_organization(
    client: httpx.AsyncClient,
    configurer: ApiUser,
    make_user: MakeUser,
    make_organization,
    package_id: int,
    session_maker: Maker,
):
    viewer = await make_user(configurer.organization_id, ("tokens.view", "tokens.purchase"))
    stranger = await make_user(await make_organization(), ("tokens.configure",))
    url = path(configurer.organization_id)

    answers = [
        await client.put(url, json=policy(package_id), headers=viewer.headers()),
        await client.get(url, headers=viewer.headers()),
        await client.put(url, json=policy(package_id), headers=stranger.headers()),
        await client.delete(url, headers=stranger.headers()),
        await client.get(url),
    ]

    assert [a.status_code for a in answers] == [403, 403, 403, 403, 401]
    assert await count_rows(
        session_maker, "auto_topup_policies", "organization_id = :o", o=configurer.organization_id
    ) == 0  # fmt: skip


async def test_switched_off_system_still_stores_policies_but_says_they_are_inert(
    api_settings: Settings, configurer: ApiUser, package_id: int
):
    off = api_settings.model_copy(update={"token_auto_topup_enabled": False})
    async with api_client(off) as api:
        answer = await api.put(
            path(configurer.organization_id), json=policy(package_id), headers=configurer.headers()
        )

    assert answer.status_code == 200
    assert answer.json()["system_enabled"] is False


async def test_a_policy_that_pays_needs_tokens_purchase_as_well_as_configure(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    make_organization,
    package_id: int,
    session_maker: Maker,
):
    organization_id = await make_organization()
    configure_only = await make_user(organization_id, ("tokens.view", "tokens.configure"))
    request_id = new_request_id()
    schedule = {"interval": "PT1M", "anchor": "2030-01-01T00:00:00+00:00"}

    refused = await client.put(
        path(organization_id),
        json={"package_id": package_id, "payment_method": "pm_card_ok", "schedule": schedule},
        headers=configure_only.headers(**{"X-Request-ID": request_id}),
    )

    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["details"] == {"permission": "tokens.purchase"}
    assert await denied_audit_rows(session_maker, request_id) == 1
    assert await count_rows(
        session_maker, "auto_topup_policies", "organization_id = :o", o=organization_id
    ) == 0  # fmt: skip


async def test_a_policy_without_caps_gets_the_default_caps(
    client: httpx.AsyncClient, configurer: ApiUser, package_id: int, api_settings: Settings
):
    uncapped = policy(package_id, max_topups_per_day=None, max_monthly_spend=None)

    answer = await client.put(
        path(configurer.organization_id), json=uncapped, headers=configurer.headers()
    )

    assert answer.status_code == 200, answer.text
    assert (answer.json()["max_topups_per_day"], answer.json()["max_monthly_spend"]) == (
        api_settings.auto_topup_default_max_per_day,
        f"{api_settings.auto_topup_default_max_monthly_spend:.2f}",
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"max_topups_per_day": 51},  # AUTO_TOPUP_MAX_PER_DAY_LIMIT is 50
        {"max_monthly_spend": "100000.01"},  # AUTO_TOPUP_MAX_MONTHLY_SPEND_LIMIT is 100000.00
        {"schedule": {"interval": "PT1M", "anchor": "2030-01-01T00:00:00+00:00"}},
        {"schedule": {"interval": "PT59M", "anchor": "2030-01-01T00:00:00+00:00"}},
    ],
)
async def test_caps_above_the_limits_and_schedules_under_an_hour_are_refused(
    client: httpx.AsyncClient,
    configurer: ApiUser,
    package_id: int,
    session_maker: Maker,
    changes: dict[str, Any],
):
    answer = await client.put(
        path(configurer.organization_id), json=policy(package_id, **changes),
        headers=configurer.headers(),
    )  # fmt: skip

    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "validation_error"
    assert await count_rows(
        session_maker, "auto_topup_policies", "organization_id = :o", o=configurer.organization_id
    ) == 0  # fmt: skip


async def test_a_shorter_schedule_is_allowed_where_the_setting_allows_it(
    api_settings: Settings, configurer: ApiUser, package_id: int
):
    dev = api_settings.model_copy(
        update={"auto_topup_minimum_schedule_interval": timedelta(minutes=1)}
    )
    schedule = {"interval": "PT1M", "anchor": "2030-01-01T00:00:00+00:00"}
    async with api_client(dev) as api:
        answer = await api.put(
            path(configurer.organization_id), json=policy(package_id, schedule=schedule),
            headers=configurer.headers(),
        )  # fmt: skip

    assert answer.status_code == 200, answer.text
    assert answer.json()["schedule"]["interval"] == "PT1M"
