"""Bad input gets a 4xx with a code, never a 500, and changes nothing."""

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.api.helpers import ApiUser, MakePackage, Maker, MakeUser, count_rows, new_key

TABLES = (
    "token_purchases",
    "organization_token_wallets",
    "token_packages",
    "idempotency_records",
    "organizations",
    "users",
)


async def snapshot(session_maker: Maker) -> dict[str, int]:
    return {table: await count_rows(session_maker, table) for table in TABLES}


async def changes_in_audit(session_maker: Maker) -> int:
    return await count_rows(session_maker, "token_audit_logs", "outcome <> 'denied'")


@pytest.fixture
async def admin_buyer(
    make_organization: Callable[..., Awaitable[int]], make_user: MakeUser
) -> ApiUser:
    """An admin that belongs to an organization, so only the input decides the answer."""
    return await make_user(await make_organization(), role="admin")


def body(**fields: Any) -> dict[str, Any]:
    return fields


# (method, path, json body or raw bytes, extra headers, expected status, expected code)
# "{org}", "{package}", "{inactive_package}" and "{inactive_org}" are filled in per test.
BAD_PURCHASES: list[tuple[str, Any, int, str]] = [
    ("zero quantity", {"quantity": 0}, 422, "validation_error"),
    ("negative quantity", {"quantity": -5}, 422, "validation_error"),
    ("absurd quantity", {"quantity": 10**30}, 422, "validation_error"),
    ("quantity over the maximum", {"quantity": 101}, 422, "validation_error"),
    ("quantity as text", {"quantity": "three"}, 422, "validation_error"),
    ("quantity as float", {"quantity": 1.5}, 422, "validation_error"),
    ("quantity as bool", {"quantity": True}, 422, "validation_error"),
    ("unknown package", {"package_id": 2_000_000_000}, 422, "package_not_found"),
    ("package id past int4", {"package_id": 2**31}, 422, "validation_error"),
    ("package id as text", {"package_id": "abc"}, 422, "validation_error"),
    ("inactive package", {"package_id": "{inactive_package}"}, 422, "package_inactive"),
    ("unknown organization", {"organization_id": 2_000_000_000}, 422, "organization_not_found"),
    ("inactive organization", {"organization_id": "{inactive_org}"}, 409, "organization_inactive"),
    ("organization id zero", {"organization_id": 0}, 422, "validation_error"),
    ("payment method malformed", {"payment_method": "card 4242"}, 422, "validation_error"),
    ("payment method too long", {"payment_method": "pm_" + "x" * 62}, 422, "validation_error"),
    ("payment method with NUL", {"payment_method": "pm_ok\u0000"}, 422, "validation_error"),
    ("payment method missing", {"payment_method": None}, 422, "validation_error"),
    ("extra field", {"discount": "100%"}, 422, "validation_error"),
]


@pytest.fixture
async def targets(
    make_organization: Callable[..., Awaitable[int]],
    make_package: MakePackage,
    session_maker: Maker,
) -> dict[str, int]:
    inactive_org = await make_organization()
    async with session_maker() as session, session.begin():
        await session.execute(
            text("UPDATE organizations SET is_active = false WHERE id = :o"), {"o": inactive_org}
        )
    return {
        "package": await make_package(),
        "inactive_package": await make_package(active=False),
        "inactive_org": inactive_org,
    }


@pytest.mark.parametrize(
    ("case", "override", "status", "code"), BAD_PURCHASES, ids=[c[0] for c in BAD_PURCHASES]
)
async def test_bad_purchase_changes_nothing(
    client: httpx.AsyncClient,
    admin_buyer: ApiUser,
    targets: dict[str, int],
    session_maker: Maker,
    case: str,
    override: dict[str, Any],
    status: int,
    code: str,
):
    payload: dict[str, Any] = {
        "organization_id": admin_buyer.organization_id,
        "package_id": targets["package"],
        "payment_method": "pm_card_ok",
    }
    for field, value in override.items():
        if value is None:
            payload.pop(field)
        elif isinstance(value, str) and value.startswith("{"):
            payload[field] = targets[value.strip("{}")]
        else:
            payload[field] = value
    before, audit_before = await snapshot(session_maker), await changes_in_audit(session_maker)
    response = await client.post(
        "/api/tokens/purchases",
        json=payload,
        headers=admin_buyer.headers(**{"Idempotency-Key": new_key()}),
    )
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert await snapshot(session_maker) == before
    assert await changes_in_audit(session_maker) == audit_before


BAD_REQUESTS: list[tuple[str, str, Any, dict[str, str], int, str]] = [
    ("GET", "/api/tokens/packages/99999999999999999999", None, {}, 422, "validation_error"),
    ("GET", "/api/tokens/packages/-1", None, {}, 422, "validation_error"),
    ("GET", "/api/tokens/packages/abc", None, {}, 422, "validation_error"),
    ("GET", "/api/tokens/packages/2000000000", None, {}, 404, "package_not_found"),
    ("GET", "/api/tokens/packages?limit=0", None, {}, 422, "validation_error"),
    ("GET", "/api/tokens/packages?limit=100000", None, {}, 422, "validation_error"),
    ("GET", "/api/tokens/packages?offset=-1", None, {}, 422, "validation_error"),
    ("GET", "/api/tokens/packages?offset=99999999999999999999", None, {}, 422, "validation_error"),
    ("GET", "/api/tokens/wallet/2147483648", None, {}, 422, "validation_error"),
    ("GET", "/api/tokens/wallet/2000000000", None, {}, 404, "organization_not_found"),
    (
        "GET",
        "/api/tokens/wallet/{org}/history?change_type=theft",
        None,
        {},
        422,
        "validation_error",
    ),
    (
        "GET",
        "/api/tokens/wallet/{org}/history?created_from=yesterday",
        None,
        {},
        422,
        "validation_error",
    ),
    (
        "GET",
        "/api/tokens/wallet/{org}/history?created_from=2026-01-01T00:00:00",
        None,
        {},
        422,
        "validation_error",
    ),
    ("GET", "/api/tokens/purchases?status=stolen", None, {}, 422, "validation_error"),
    ("GET", "/api/tokens/purchases?created_to=9999-99-99", None, {}, 422, "validation_error"),
    ("GET", "/api/tokens/purchases/TKP-NOPE", None, {}, 404, "purchase_not_found"),
    ("GET", "/api/tokens/purchases/" + "A" * 65, None, {}, 422, "validation_error"),
    ("GET", "/api/tokens/purchases/bad%00ref", None, {}, 422, "validation_error"),
    ("GET", "/api/tokens/purchases/TKP-X?wait_seconds=nan", None, {}, 422, "validation_error"),
    ("GET", "/api/tokens/purchases/TKP-X?wait_seconds=-1", None, {}, 422, "validation_error"),
    ("GET", "/api/tokens/invoices/TOK-1999-000000", None, {}, 404, "invoice_not_found"),
    ("POST", "/api/tokens/purchases", None, {}, 422, "validation_error"),
    ("POST", "/api/tokens/purchases", [1, 2], {}, 422, "validation_error"),
    ("POST", "/api/tokens/purchases", "just text", {}, 422, "validation_error"),
    (
        "POST",
        "/api/tokens/purchases",
        b"\xff\xfe",
        {"Content-Type": "application/json"},
        400,
        "malformed_json",
    ),
    (
        "POST",
        "/api/tokens/purchases",
        b"[" * 5000 + b"]" * 5000,
        {"Content-Type": "application/json"},
        400,
        "malformed_json",
    ),
    (
        "POST",
        "/api/tokens/purchases",
        b'{"quantity": ' + b"9" * 5000 + b"}",
        {"Content-Type": "application/json"},
        400,
        "malformed_json",
    ),
    (
        "POST",
        "/api/tokens/purchases",
        b"{}",
        {"Content-Type": "text/plain"},
        415,
        "unsupported_media_type",
    ),
    (
        "POST",
        "/api/tokens/packages",
        {"name": "N", "token_quantity": "0"},
        {},
        422,
        "validation_error",
    ),
    (
        "POST",
        "/api/tokens/packages",
        {"name": "N", "token_quantity": "1e40"},
        {},
        422,
        "validation_error",
    ),
    (
        "POST",
        "/api/tokens/packages",
        {"name": "N", "token_quantity": "NaN"},
        {},
        422,
        "validation_error",
    ),
    (
        "POST",
        "/api/tokens/packages",
        {"name": "N", "token_quantity": "1.00001"},
        {},
        422,
        "validation_error",
    ),
    (
        "POST",
        "/api/tokens/packages",
        {"name": "N", "token_quantity": "10", "price_per_token": "-0.5"},
        {},
        422,
        "validation_error",
    ),
    (
        "POST",
        "/api/tokens/packages",
        {"name": "N", "token_quantity": "999999999999999", "price_per_token": "999999999"},
        {},
        422,
        "validation_error",
    ),
    (
        "POST",
        "/api/tokens/packages",
        {"name": "N\u0000", "token_quantity": "10"},
        {},
        422,
        "validation_error",
    ),
    (
        "POST",
        "/api/tokens/packages",
        b'{"name": "\\ud800", "token_quantity": "10"}',
        {"Content-Type": "application/json"},
        422,
        "validation_error",
    ),
    (
        "POST",
        "/api/tokens/packages",
        {"name": "N", "token_quantity": "10", "currency": "usd"},
        {},
        422,
        "validation_error",
    ),
    (
        "PATCH",
        "/api/tokens/packages/{package}",
        {"token_quantity": None},
        {},
        422,
        "validation_error",
    ),
    ("PATCH", "/api/tokens/packages/{package}", {"is_active": "yes"}, {}, 422, "validation_error"),
    (
        "PATCH",
        "/api/tokens/packages/{package}",
        {"price_per_token": "1e13"},
        {},
        422,
        "validation_error",
    ),
    ("DELETE", "/api/tokens/packages/2000000000", None, {}, 404, "package_not_found"),
    ("POST", "/api/tokens/admin/organizations", {"name": "   "}, {}, 422, "validation_error"),
    ("POST", "/api/tokens/admin/organizations/2000000000/deactivate", None, {}, 404, "not_found"),
    ("POST", "/api/tokens/admin/users", {"email": "not-an-email"}, {}, 422, "validation_error"),
    ("POST", "/api/tokens/admin/users", {"email": "a\u0000@b.test"}, {}, 422, "validation_error"),
    (
        "POST",
        "/api/tokens/admin/users",
        {"email": "a@b.test", "role": "god"},
        {},
        422,
        "validation_error",
    ),
    (
        "POST",
        "/api/tokens/admin/users",
        {"email": "a@b.test", "organization_id": 2000000000},
        {},
        404,
        "not_found",
    ),
    (
        "POST",
        "/api/tokens/admin/users",
        {"email": "a@b.test", "permissions": ["tokens.all"]},
        {},
        422,
        "validation_error",
    ),
    (
        "PUT",
        "/api/tokens/admin/users/2000000000/permissions/tokens.view",
        None,
        {},
        404,
        "not_found",
    ),
    (
        "PUT",
        "/api/tokens/admin/users/1/permissions/tokens.everything",
        None,
        {},
        422,
        "validation_error",
    ),
    ("POST", "/api/tokens/admin/users/2000000000/deactivate", None, {}, 404, "not_found"),
]


@pytest.mark.parametrize(
    ("method", "path", "payload", "headers", "status", "code"),
    BAD_REQUESTS,
    ids=[f"{c[0]} {c[1]} {c[2]!r}"[:90] for c in BAD_REQUESTS],
)
async def test_bad_request_changes_nothing(
    client: httpx.AsyncClient,
    admin_buyer: ApiUser,
    targets: dict[str, int],
    session_maker: Maker,
    method: str,
    path: str,
    payload: Any,
    headers: dict[str, str],
    status: int,
    code: str,
):
    url = path.format(org=admin_buyer.organization_id, package=targets["package"])
    request_headers = admin_buyer.headers(**{"Idempotency-Key": new_key(), **headers})
    before, audit_before = await snapshot(session_maker), await changes_in_audit(session_maker)
    if isinstance(payload, bytes):
        response = await client.request(method, url, content=payload, headers=request_headers)
    else:
        response = await client.request(method, url, json=payload, headers=request_headers)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert await snapshot(session_maker) == before
    assert await changes_in_audit(session_maker) == audit_before


async def test_missing_idempotency_key_is_400(
    client: httpx.AsyncClient, admin_buyer: ApiUser, targets: dict[str, int], session_maker: Maker
):
    before = await snapshot(session_maker)
    for path, payload in [
        (
            "/api/tokens/purchases",
            {
                "organization_id": admin_buyer.organization_id,
                "package_id": targets["package"],
                "payment_method": "pm_card_ok",
            },
        ),
        ("/api/tokens/packages", {"name": "Keyless", "token_quantity": "5"}),
        ("/api/tokens/admin/organizations", {"name": "Keyless"}),
        ("/api/tokens/admin/users", {"email": "keyless@api.test"}),
    ]:
        response = await client.post(path, json=payload, headers=admin_buyer.headers())
        assert response.status_code == 400, path
        assert response.json()["error"]["code"] == "idempotency_key_required"
        spaced = await client.post(
            path, json=payload, headers=admin_buyer.headers(**{"Idempotency-Key": "a b"})
        )
        assert spaced.json()["error"]["code"] == "invalid_idempotency_key"
    assert await snapshot(session_maker) == before
