"""Every failure, even outside the routes, answers in the {"error": {...}} shape."""

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.api.helpers import ApiUser, api_client
from tokenbill.settings import Settings


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return dict(body["error"])


async def test_unknown_route_is_404_in_the_error_shape(client: httpx.AsyncClient):
    assert_error(await client.get("/api/tokens/nothing-here"), 404, "not_found")


async def test_wrong_method_is_405_in_the_error_shape(client: httpx.AsyncClient):
    assert_error(await client.put("/api/health"), 405, "method_not_allowed")


async def test_missing_token_is_401_with_www_authenticate(client: httpx.AsyncClient):
    response = await client.get("/api/tokens/packages")
    assert_error(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_oversized_body_is_413(api_settings: Settings, admin: ApiUser):
    small = api_settings.model_copy(update={"max_request_body_bytes": 256})
    async with api_client(small) as client:
        declared = await client.post(
            "/api/tokens/packages",
            content=b"{" + b" " * 400 + b"}",
            headers=admin.headers(**{"Content-Type": "application/json"}),
        )

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b" " * 100

        streamed = await client.post(
            "/api/tokens/packages",
            content=chunks(),
            headers=admin.headers(**{"Content-Type": "application/json"}),
        )
    assert_error(declared, 413, "request_too_large")
    assert_error(streamed, 413, "request_too_large")


async def test_malformed_json_is_400(client: httpx.AsyncClient, admin: ApiUser):
    response = await client.post(
        "/api/tokens/packages",
        content=b'{"name": "x", ',
        headers=admin.headers(**{"Content-Type": "application/json", "Idempotency-Key": "k"}),
    )
    assert_error(response, 400, "malformed_json")


async def test_non_json_body_is_415(client: httpx.AsyncClient, admin: ApiUser):
    response = await client.post(
        "/api/tokens/packages",
        content=b"name=x",
        headers=admin.headers(**{"Content-Type": "application/x-www-form-urlencoded"}),
    )
    assert_error(response, 415, "unsupported_media_type")


async def test_validation_error_names_each_field(client: httpx.AsyncClient, admin: ApiUser):
    response = await client.post(
        "/api/tokens/packages",
        json={"name": "", "token_quantity": "-1", "colour": "red"},
        headers=admin.headers(**{"Idempotency-Key": "k"}),
    )
    error = assert_error(response, 422, "validation_error")
    fields = {e["field"] for e in error["details"]["errors"]}  # type: ignore[index]
    assert fields == {"body.name", "body.token_quantity", "body.colour"}


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient):
    echoed = await client.get("/api/health", headers={"X-Request-ID": "trace-123"})
    made = await client.get("/api/health", headers={"X-Request-ID": "bad id with spaces"})
    assert echoed.headers["X-Request-ID"] == "trace-123"
    assert made.headers["X-Request-ID"] not in ("", "bad id with spaces")
    assert (await client.get("/nowhere")).headers["X-Request-ID"]


async def test_unexpected_error_is_500_without_a_stack_trace(api_settings: Settings):
    from api.app import create_app

    app = create_app(api_settings)

    async def explode() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route("/api/explode", explode)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/api/explode", headers={"X-Request-ID": "boom-1"})
    error = assert_error(response, 500, "internal_error")
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text
    assert error["details"] == {"request_id": "boom-1"}


@pytest.mark.parametrize("path", ["/docs", "/openapi.json"])
async def test_docs_are_served(client: httpx.AsyncClient, path: str):
    assert (await client.get(path)).status_code == 200


async def test_every_route_documents_the_permission_it_needs(client: httpx.AsyncClient):
    spec = (await client.get("/openapi.json")).json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            description = operation.get("description", "")
            if path == "/api/health":
                assert "No authentication" in description
            else:
                assert description.startswith("Requires "), f"{method.upper()} {path}"
