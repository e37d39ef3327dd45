"""Packages: platform admins create, change and deactivate them (audited before/after); an
organisation's tokens.configure user may not; tokens.view reads them."""

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.api.helpers import (
    ALL_PERMISSIONS,
    ApiUser,
    MakePackage,
    Maker,
    MakeUser,
    count_rows,
    denied_audit_rows,
    new_key,
    new_request_id,
)


@pytest.fixture
async def configurer(admin: ApiUser) -> ApiUser:
    """Who configures the catalog: a platform admin."""
    return admin


@pytest.fixture
async def organisation_configurer(
    make_organization: Callable[..., Awaitable[int]], make_user: MakeUser
) -> ApiUser:
    return await make_user(await make_organization(), ALL_PERMISSIONS)


async def audit_rows(session_maker: Maker, package_id: int) -> list[Any]:
    async with session_maker() as session:
        rows = await session.execute(
            text(
                "SELECT action, before, after, actor_id FROM token_audit_logs "
                "WHERE target_type = 'token_package' AND target_id = :id ORDER BY id"
            ),
            {"id": str(package_id)},
        )
        return list(rows)


async def create(client: httpx.AsyncClient, user: ApiUser, **fields: Any) -> httpx.Response:
    return await client.post(
        "/api/tokens/packages", json=fields, headers=user.headers(**{"Idempotency-Key": new_key()})
    )


async def test_package_lifecycle_is_audited(
    client: httpx.AsyncClient, configurer: ApiUser, session_maker: Maker
):
    name = f"Business {uuid.uuid4().hex[:8]}"
    created = await create(client, configurer, name=name, token_quantity="500")
    assert created.status_code == 201, created.text
    package = created.json()
    assert package["price_per_token"] == "0.50"  # DEFAULT_TOKEN_PRICE
    assert (package["token_quantity"], package["package_price"]) == ("500", "250.00")
    assert (package["currency"], package["is_active"]) == ("USD", True)

    updated = await client.patch(
        f"/api/tokens/packages/{package['id']}",
        json={"price_per_token": "0.45", "description": "Volume price"},
        headers=configurer.headers(),
    )
    assert updated.status_code == 200
    assert (updated.json()["price_per_token"], updated.json()["package_price"]) == (
        "0.45",
        "225.00",
    )
    removed = await client.delete(
        f"/api/tokens/packages/{package['id']}", headers=configurer.headers()
    )
    assert removed.json()["is_active"] is False
    listed = await client.get("/api/tokens/packages?limit=200", headers=configurer.headers())
    assert package["id"] not in {p["id"] for p in listed.json()["items"]}
    with_inactive = await client.get(
        "/api/tokens/packages?include_inactive=true&limit=200", headers=configurer.headers()
    )
    assert with_inactive.json()["total"] >= listed.json()["total"] + 1

    actions = await audit_rows(session_maker, package["id"])
    assert [a.action for a in actions] == ["package.create", "package.update", "package.deactivate"]
    assert {a.actor_id for a in actions} == {str(configurer.id)}
    assert actions[0].before is None and actions[0].after["price_per_token"] == "0.50"
    assert (actions[1].before["price_per_token"], actions[1].after["price_per_token"]) == (
        "0.50",
        "0.45",
    )
    assert (actions[2].before["is_active"], actions[2].after["is_active"]) == (True, False)


async def test_a_change_that_changes_nothing_is_not_audited(
    client: httpx.AsyncClient, configurer: ApiUser, session_maker: Maker
):
    package = await create(client, configurer, name=f"Same {uuid.uuid4().hex}", token_quantity="5")
    package_id = package.json()["id"]
    same = await client.patch(
        f"/api/tokens/packages/{package_id}",
        json={"token_quantity": "5.0000"},
        headers=configurer.headers(),
    )
    assert same.status_code == 200
    assert [a.action for a in await audit_rows(session_maker, package_id)] == ["package.create"]


async def test_package_names_are_unique(
    client: httpx.AsyncClient, configurer: ApiUser, session_maker: Maker
):
    name = f"Unique {uuid.uuid4().hex[:8]}"
    assert (await create(client, configurer, name=name, token_quantity="1")).status_code == 201
    again = await create(client, configurer, name=name.upper(), token_quantity="1")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "package_name_taken"
    assert await count_rows(session_maker, "token_packages", "lower(name) = lower(:n)", n=name) == 1


async def test_create_replay_returns_the_first_package(
    client: httpx.AsyncClient, configurer: ApiUser, session_maker: Maker
):
    name = f"Replay {uuid.uuid4().hex[:8]}"
    headers = configurer.headers(**{"Idempotency-Key": new_key()})
    body = {"name": name, "token_quantity": "100", "price_per_token": "0.125"}
    first = await client.post("/api/tokens/packages", json=body, headers=headers)
    second = await client.post("/api/tokens/packages", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json() == second.json()
    assert first.json()["price_per_token"] == "0.125"
    assert await count_rows(session_maker, "token_packages", "name = :n", n=name) == 1


async def test_viewer_reads_packages(
    client: httpx.AsyncClient,
    configurer: ApiUser,
    make_user: MakeUser,
    make_organization: Callable[..., Awaitable[int]],
):
    viewer = await make_user(await make_organization(), ("tokens.view",))
    created = await create(client, configurer, name=f"Read {uuid.uuid4().hex}", token_quantity="7")
    one = await client.get(f"/api/tokens/packages/{created.json()['id']}", headers=viewer.headers())
    assert one.status_code == 200
    assert one.json() == created.json()


async def test_an_organisations_configure_user_cannot_change_the_catalog(
    client: httpx.AsyncClient,
    organisation_configurer: ApiUser,
    make_package: MakePackage,
    session_maker: Maker,
):
    package_id = await make_package()
    async with session_maker() as session:
        before = (
            await session.execute(
                text("SELECT price_per_token, is_active FROM token_packages WHERE id = :id"),
                {"id": package_id},
            )
        ).one()
    attempts = [
        (
            "POST",
            "/api/tokens/packages",
            {"name": f"Own {uuid.uuid4().hex}", "token_quantity": "1"},
        ),
        ("PATCH", f"/api/tokens/packages/{package_id}", {"price_per_token": "0.000001"}),
        ("DELETE", f"/api/tokens/packages/{package_id}", None),
    ]
    for method, path, body in attempts:
        request_id = new_request_id()
        headers = organisation_configurer.headers(
            **{"X-Request-ID": request_id, "Idempotency-Key": new_key()}
        )
        refused = await client.request(method, path, json=body, headers=headers)
        assert refused.status_code == 403, (method, refused.text)
        assert refused.json()["error"]["details"] == {"permission": "admin"}
        assert await denied_audit_rows(session_maker, request_id) == 1
    async with session_maker() as session:
        after = (
            await session.execute(
                text("SELECT price_per_token, is_active FROM token_packages WHERE id = :id"),
                {"id": package_id},
            )
        ).one()
    assert tuple(after) == tuple(before)
    assert await audit_rows(session_maker, package_id) == []
