"""Admins manage organizations and users; a change in the database takes effect at once."""

import uuid
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import text

from tests.api.helpers import ApiUser, Maker, MakeUser, count_rows, new_key


async def audited(session_maker: Maker, action: str, target_id: int) -> int:
    return await count_rows(
        session_maker,
        "token_audit_logs",
        "action = :a AND target_id = :t AND outcome = 'success'",
        a=action,
        t=str(target_id),
    )


async def test_admin_manages_organizations_and_users(
    client: httpx.AsyncClient, admin: ApiUser, session_maker: Maker
):
    org = await client.post(
        "/api/tokens/admin/organizations",
        json={"name": "  Acme Health  "},
        headers=admin.headers(**{"Idempotency-Key": new_key()}),
    )
    assert org.status_code == 201
    org_id = org.json()["id"]
    assert org.json() == {"id": org_id, "name": "Acme Health", "is_active": True}
    email = f"Buyer-{uuid.uuid4().hex[:8]}@Acme.test"
    user = await client.post(
        "/api/tokens/admin/users",
        json={
            "email": email,
            "organization_id": org_id,
            "user_type": "insurance",
            "permissions": ["tokens.view", "tokens.purchase"],
        },
        headers=admin.headers(**{"Idempotency-Key": new_key()}),
    )
    assert user.status_code == 201, user.text
    user_id = user.json()["id"]
    assert user.json()["email"] == email.lower()
    assert user.json()["permissions"] == ["tokens.purchase", "tokens.view"]

    granted = await client.put(
        f"/api/tokens/admin/users/{user_id}/permissions/tokens.configure", headers=admin.headers()
    )
    revoked = await client.delete(
        f"/api/tokens/admin/users/{user_id}/permissions/tokens.purchase", headers=admin.headers()
    )
    assert granted.json()["permissions"] == ["tokens.configure", "tokens.purchase", "tokens.view"]
    assert revoked.json()["permissions"] == ["tokens.configure", "tokens.view"]
    listed = await client.get(
        f"/api/tokens/admin/users?organization_id={org_id}", headers=admin.headers()
    )
    assert [u["id"] for u in listed.json()["items"]] == [user_id]
    assert listed.json()["total"] == 1

    deactivated_user = await client.post(
        f"/api/tokens/admin/users/{user_id}/deactivate", headers=admin.headers()
    )
    deactivated_org = await client.post(
        f"/api/tokens/admin/organizations/{org_id}/deactivate", headers=admin.headers()
    )
    assert deactivated_user.json()["is_active"] is False
    assert deactivated_org.json()["is_active"] is False
    inactive = await client.get(
        "/api/tokens/admin/organizations?active=false&limit=200", headers=admin.headers()
    )
    assert org_id in {o["id"] for o in inactive.json()["items"]}

    assert await audited(session_maker, "organization.create", org_id) == 1
    assert await audited(session_maker, "user.create", user_id) == 1
    assert await audited(session_maker, "user.permission_grant", user_id) == 1
    assert await audited(session_maker, "user.permission_revoke", user_id) == 1
    assert await audited(session_maker, "user.deactivate", user_id) == 1
    assert await audited(session_maker, "organization.deactivate", org_id) == 1


async def test_a_duplicate_email_is_409(client: httpx.AsyncClient, admin: ApiUser):
    body = {"email": f"twice-{uuid.uuid4().hex[:8]}@api.test"}
    first = await client.post(
        "/api/tokens/admin/users",
        json=body,
        headers=admin.headers(**{"Idempotency-Key": new_key()}),
    )
    second = await client.post(
        "/api/tokens/admin/users",
        json=body,
        headers=admin.headers(**{"Idempotency-Key": new_key()}),
    )
    assert (first.status_code, second.status_code) == (201, 409)
    assert second.json()["error"]["code"] == "already_exists"


async def test_permission_revoked_in_the_database_applies_to_the_next_request(
    client: httpx.AsyncClient,
    make_organization: Callable[..., Awaitable[int]],
    make_user: MakeUser,
    session_maker: Maker,
):
    viewer = await make_user(await make_organization(), ("tokens.view",))
    assert (await client.get("/api/tokens/packages", headers=viewer.headers())).status_code == 200
    async with session_maker() as session, session.begin():
        await session.execute(
            text("UPDATE users SET permissions = '{}' WHERE id = :u"), {"u": viewer.id}
        )
    refused = await client.get("/api/tokens/packages", headers=viewer.headers())
    assert refused.status_code == 403
    async with session_maker() as session, session.begin():
        await session.execute(
            text("UPDATE users SET permissions = '{tokens.view}' WHERE id = :u"), {"u": viewer.id}
        )
    assert (await client.get("/api/tokens/packages", headers=viewer.headers())).status_code == 200


async def test_a_deactivated_user_is_refused_on_the_next_request(
    client: httpx.AsyncClient, admin: ApiUser, make_user: MakeUser
):
    viewer = await make_user(None, ("tokens.view",))
    assert (await client.get("/api/tokens/packages", headers=viewer.headers())).status_code == 200
    await client.post(f"/api/tokens/admin/users/{viewer.id}/deactivate", headers=admin.headers())
    refused = await client.get("/api/tokens/packages", headers=viewer.headers())
    assert refused.status_code == 401
