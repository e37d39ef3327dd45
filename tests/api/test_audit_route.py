"""GET /api/tokens/audit: admins only, filtered by actor, organization, action, outcome, dates;
and the API fills each record's IP and request id."""

import uuid
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import text

from tests.api.helpers import ApiUser, Maker, MakeUser, new_request_id

MakeOrganization = Callable[..., Awaitable[int]]


async def _insert(
    session_maker: Maker, action: str, *, actor_id: str, org: int | None, outcome: str, at: str
) -> None:
    async with session_maker() as session, session.begin():
        await session.execute(
            text(
                "INSERT INTO token_audit_logs (actor_type, actor_id, organization_id, action, "
                "outcome, created_at) VALUES ('user', :actor, coalesce(CAST(:org AS integer), 0),"
                " :action, :outcome, CAST(:at AS timestamptz))"
            ),
            {"actor": actor_id, "org": org, "action": action, "outcome": outcome, "at": at},
        )


async def test_only_admins_read_the_audit_log(
    client: httpx.AsyncClient, make_user: MakeUser, make_organization: MakeOrganization,
    admin: ApiUser,
):  # fmt: skip
    user = await make_user(await make_organization())
    request_id = new_request_id()

    refused = await client.get(
        "/api/tokens/audit", headers=user.headers(**{"X-Request-ID": request_id})
    )
    allowed = await client.get("/api/tokens/audit?action=access.denied", headers=admin.headers())

    assert refused.status_code == 403
    assert allowed.status_code == 200
    mine = [r for r in allowed.json()["items"] if r["request_id"] == request_id]
    assert len(mine) == 1
    assert mine[0]["actor_id"] == str(user.id)
    assert mine[0]["ip_address"] == "203.0.113.7"
    assert mine[0]["target_type"] == "route"


async def test_audit_filters_by_actor_organization_action_outcome_and_dates(
    client: httpx.AsyncClient, admin: ApiUser, session_maker: Maker,
    make_organization: MakeOrganization,
):  # fmt: skip
    prefix = f"test{uuid.uuid4().hex[:8]}."
    org = await make_organization()
    await _insert(session_maker, prefix + "a", actor_id="alice", org=org, outcome="success",
                  at="2026-03-01T10:00:00Z")  # fmt: skip
    await _insert(session_maker, prefix + "b", actor_id="bob", org=org, outcome="denied",
                  at="2026-03-02T10:00:00Z")  # fmt: skip
    await _insert(session_maker, prefix + "a", actor_id="alice", org=None, outcome="success",
                  at="2026-03-03T10:00:00Z")  # fmt: skip

    async def actions(query: str) -> list[tuple[str, str]]:
        response = await client.get(
            f"/api/tokens/audit?action={prefix}&{query}", headers=admin.headers()
        )
        assert response.status_code == 200
        return [(r["action"], r["created_at"][:10]) for r in response.json()["items"]]

    assert await actions("") == [
        (prefix + "a", "2026-03-03"), (prefix + "b", "2026-03-02"), (prefix + "a", "2026-03-01")
    ]  # fmt: skip
    assert await actions("actor_type=user&actor_id=bob") == [(prefix + "b", "2026-03-02")]
    assert await actions(f"organization_id={org}&outcome=success") == [(prefix + "a", "2026-03-01")]
    assert await actions(
        "created_from=2026-03-02T00:00:00Z&created_to=2026-03-03T00:00:00Z"
    ) == [(prefix + "b", "2026-03-02")]  # fmt: skip
    exact = await client.get(f"/api/tokens/audit?action={prefix}a&limit=1", headers=admin.headers())
    assert exact.json()["total"] == 2
    assert len(exact.json()["items"]) == 1
    # A platform action (kept under the organisation key 0) has no organisation.
    assert exact.json()["items"][0]["organization_id"] is None
