"""Every route refuses the unauthenticated (401), the unpermitted (403 for lacking any one of the
permissions it needs) and other organizations (403, audited), and lets an admin through. The
package catalog is for platform admins only; an automatic top-up policy needs tokens.configure
and tokens.purchase."""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from api.auth.jwt_tokens import issue_token
from tests.api.helpers import (
    ALL_PERMISSIONS,
    ApiUser,
    MakePackage,
    Maker,
    MakeUser,
    denied_audit_rows,
    insert_invoiced_purchase,
    new_key,
    new_request_id,
)
from tokenbill.settings import Settings


@dataclass(frozen=True)
class World:
    own_org: int
    other_org: int
    package: int
    spare_package: int
    refs: dict[int, str]
    invoices: dict[int, str]
    spare_org: int
    spare_user: int


@dataclass(frozen=True)
class RouteCase:
    method: str
    path: str
    permission: str  # a tokens.* permission or "admin"
    admin_status: int
    org_scoped: bool = False
    body: Callable[[World, int], dict[str, Any]] | None = None
    also: tuple[str, ...] = ()  # further permissions the route needs as well

    @property
    def needs(self) -> tuple[str, ...]:
        return (self.permission, *self.also)

    def url(self, world: World, org: int) -> str:
        return self.path.format(
            org=org,
            package=world.package,
            spare_package=world.spare_package,
            ref=world.refs[org],
            invoice=world.invoices[org],
            spare_org=world.spare_org,
            spare_user=world.spare_user,
        )

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _purchase(world: World, org: int) -> dict[str, Any]:
    return {"organization_id": org, "package_id": world.package, "payment_method": "pm_card_ok"}


def _auto_topup(world: World, org: int) -> dict[str, Any]:
    return {"threshold": "100", "package_id": world.package, "payment_method": "pm_card_ok"}


ROUTES = [
    RouteCase("GET", "/api/tokens/packages", "tokens.view", 200),
    RouteCase("GET", "/api/tokens/packages/{package}", "tokens.view", 200),
    RouteCase(
        "POST",
        "/api/tokens/packages",
        "admin",
        201,
        body=lambda w, o: {"name": f"Matrix {uuid.uuid4().hex}", "token_quantity": "10"},
    ),
    RouteCase(
        "PATCH",
        "/api/tokens/packages/{package}",
        "admin",
        200,
        body=lambda w, o: {"description": f"seen {uuid.uuid4().hex}"},
    ),
    RouteCase("DELETE", "/api/tokens/packages/{spare_package}", "admin", 200),
    RouteCase(
        "PUT",
        "/api/tokens/wallet/{org}/auto-topup",
        "tokens.configure",
        200,
        org_scoped=True,
        body=_auto_topup,
        also=("tokens.purchase",),
    ),
    RouteCase(
        "GET", "/api/tokens/wallet/{org}/spend-limits", "tokens.configure", 200, org_scoped=True
    ),
    RouteCase(
        "PUT",
        "/api/tokens/wallet/{org}/spend-limits",
        "tokens.configure",
        200,
        org_scoped=True,
        body=lambda w, o: {"limits": []},
    ),
    RouteCase(
        "DELETE", "/api/tokens/wallet/{org}/spend-limits", "tokens.configure", 204, org_scoped=True
    ),
    RouteCase("GET", "/api/tokens/wallet/{org}", "tokens.view", 200, org_scoped=True),
    RouteCase("GET", "/api/tokens/wallet/{org}/history", "tokens.view", 200, org_scoped=True),
    RouteCase("GET", "/api/tokens/wallet/{org}/holds", "tokens.view", 200, org_scoped=True),
    RouteCase(
        "POST", "/api/tokens/purchases", "tokens.purchase", 202, org_scoped=True, body=_purchase
    ),
    RouteCase(
        "GET", "/api/tokens/purchases?organization_id={org}", "tokens.view", 200, org_scoped=True
    ),
    RouteCase("GET", "/api/tokens/purchases/{ref}", "tokens.view", 200, org_scoped=True),
    RouteCase("GET", "/api/tokens/invoices/{invoice}", "tokens.view", 200, org_scoped=True),
    RouteCase(
        "POST",
        "/api/tokens/admin/organizations",
        "admin",
        201,
        body=lambda w, o: {"name": "Matrix Org"},
    ),
    RouteCase("GET", "/api/tokens/admin/organizations", "admin", 200),
    RouteCase("POST", "/api/tokens/admin/organizations/{spare_org}/deactivate", "admin", 200),
    RouteCase("POST", "/api/tokens/admin/organizations/{spare_org}/reactivate", "admin", 200),
    RouteCase(
        "POST",
        "/api/tokens/admin/users",
        "admin",
        201,
        body=lambda w, o: {"email": f"m-{uuid.uuid4().hex[:10]}@matrix.test"},
    ),
    RouteCase("GET", "/api/tokens/admin/users", "admin", 200),
    RouteCase("POST", "/api/tokens/admin/users/{spare_user}/deactivate", "admin", 200),
    RouteCase("PUT", "/api/tokens/admin/users/{spare_user}/permissions/tokens.view", "admin", 200),
    RouteCase(
        "DELETE", "/api/tokens/admin/users/{spare_user}/permissions/tokens.view", "admin", 200
    ),
]


@pytest.fixture
async def world(
    make_organization: Callable[..., Awaitable[int]],
    make_package: MakePackage,
    make_user: MakeUser,
    session_maker: Maker,
) -> World:
    own_org, other_org, spare = [await make_organization() for _ in range(3)]
    package = await make_package()
    refs, invoices = {}, {}
    for org in (own_org, other_org):
        refs[org], invoices[org] = await insert_invoiced_purchase(session_maker, org, package)
    spare_user = await make_user(spare, ("tokens.view",))
    return World(
        own_org, other_org, package, await make_package(), refs, invoices, spare, spare_user.id
    )


async def call(
    client: httpx.AsyncClient, route: RouteCase, world: World, org: int, headers: dict[str, str]
) -> httpx.Response:
    body = route.body(world, org) if route.body else None
    if route.method in ("POST", "PUT", "PATCH"):
        headers = {**headers, "Idempotency-Key": new_key()}
    return await client.request(route.method, route.url(world, org), json=body, headers=headers)


@pytest.mark.parametrize("route", ROUTES, ids=str)
async def test_route_permissions(
    route: RouteCase,
    world: World,
    client: httpx.AsyncClient,
    make_user: MakeUser,
    settings: Settings,
    session_maker: Maker,
):
    org = world.own_org
    inactive = await make_user(org)
    async with session_maker() as session, session.begin():
        await session.execute(
            text("UPDATE users SET is_active = false WHERE id = :u"), {"u": inactive.id}
        )
    unauthenticated = {
        "no token": {},
        "bad token": {"Authorization": "Bearer not-a-jwt"},
        "basic auth": {"Authorization": "Basic dXNlcjpwYXNz"},
        "unknown user": {"Authorization": f"Bearer {issue_token(settings, 2_000_000_000)}"},
        "inactive user": inactive.headers(),
    }
    for case, headers in unauthenticated.items():
        response = await call(client, route, world, org, headers)
        assert response.status_code == 401, case
        assert response.json()["error"]["code"] == "unauthenticated"

    for needed in route.needs:
        lacking = await make_user(org, tuple(p for p in ALL_PERMISSIONS if p != needed))
        await expect_denied(client, route, world, org, lacking, session_maker)

    if route.org_scoped:
        outsider = await make_user(org, ALL_PERMISSIONS)
        await expect_denied(client, route, world, world.other_org, outsider, session_maker)

    admin = await make_user(None, (), role="admin")
    response = await call(client, route, world, org, admin.headers())
    assert response.status_code == route.admin_status, response.text


async def expect_denied(
    client: httpx.AsyncClient,
    route: RouteCase,
    world: World,
    org: int,
    user: ApiUser,
    session_maker: Maker,
) -> None:
    request_id = new_request_id()
    response = await call(client, route, world, org, user.headers(**{"X-Request-ID": request_id}))
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "forbidden"
    assert await denied_audit_rows(session_maker, request_id) == 1


FINANCE_ROUTES = [
    "/api/tokens/finance/revenue",
    "/api/tokens/finance/summary",
    "/api/tokens/finance/reports",
]


@pytest.mark.parametrize("path", FINANCE_ROUTES)
async def test_finance_routes_need_tokens_finance_without_an_organization(
    path: str,
    client: httpx.AsyncClient,
    make_user: MakeUser,
    make_organization: Callable[..., Awaitable[int]],
    session_maker: Maker,
):
    """tokens.finance opens the finance figures to a user of no organization; inside an
    organization, or without it, the answer is 403 (audited); admins pass."""
    organization = await make_organization()
    admitted = await make_user(None, ("tokens.finance",))
    response = await client.get(path, headers=admitted.headers())
    assert response.status_code == 200, response.text
    admin = await make_user(None, (), role="admin")
    assert (await client.get(path, headers=admin.headers())).status_code == 200

    refused = (
        await make_user(None, ALL_PERMISSIONS),
        await make_user(organization, (*ALL_PERMISSIONS, "tokens.finance")),
    )
    for user in refused:
        request_id = new_request_id()
        response = await client.get(path, headers=user.headers(**{"X-Request-ID": request_id}))
        assert response.status_code == 403, response.text
        assert response.json()["error"]["details"] == {"permission": "finance"}
        assert await denied_audit_rows(session_maker, request_id) == 1
