"""A service API key is bound to one organization; a key for every organization is made only when
an admin asks for it explicitly, and the answer and the audit log say so."""

import uuid
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import text

from tests.api.helpers import ApiUser, Maker, count_rows

URL = "/api/tokens/admin/api-keys"


def headers(admin: ApiUser) -> dict[str, str]:
    return admin.headers(**{"Idempotency-Key": uuid.uuid4().hex})


async def test_an_api_key_without_an_organization_is_refused(
    client: httpx.AsyncClient, admin: ApiUser, session_maker: Maker
):
    name = f"loose {uuid.uuid4().hex}"
    refused = await client.post(
        URL, json={"name": name, "scopes": ["tokens.consume"]}, headers=headers(admin)
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "organization_required"
    assert await count_rows(session_maker, "api_keys", "name = :n", n=name) == 0


async def test_an_api_key_bound_to_an_organization_says_so(
    client: httpx.AsyncClient, admin: ApiUser, make_organization: Callable[..., Awaitable[int]]
):
    org = await make_organization()
    body = {
        "name": f"bound {uuid.uuid4().hex}",
        "scopes": ["tokens.consume"],
        "organization_id": org,
    }
    created = await client.post(URL, json=body, headers=headers(admin))
    assert created.status_code == 201, created.text
    assert (created.json()["organization_id"], created.json()["all_organizations"]) == (org, False)
    assert created.json()["reach"] == f"This key spends from organization {org}'s wallet only."
    both = await client.post(URL, json={**body, "all_organizations": True}, headers=headers(admin))
    assert both.status_code == 422
    assert both.json()["error"]["code"] == "organization_required"


async def test_an_all_organizations_key_needs_the_explicit_flag_and_is_audited(
    client: httpx.AsyncClient, admin: ApiUser, session_maker: Maker
):
    body = {"name": f"platform {uuid.uuid4().hex}", "scopes": ["tokens.consume"],
            "all_organizations": True}  # fmt: skip
    created = await client.post(URL, json=body, headers=headers(admin))
    assert created.status_code == 201, created.text
    key = created.json()
    assert (key["organization_id"], key["all_organizations"]) == (None, True)
    assert "EVERY organization" in key["reach"]
    async with session_maker() as session:
        audited = await session.scalar(
            text(
                "SELECT after->>'all_organizations' FROM token_audit_logs "
                "WHERE action = 'api_key.create' AND target_id = :id"
            ),
            {"id": str(key["id"])},
        )
    assert audited == "true"
