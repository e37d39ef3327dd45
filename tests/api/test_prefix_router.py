"""The API's /api/tokens router answers for its own paths only, and passes any other path by
without trying its routes one by one (the console's pages are matched after it)."""

from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute

from api.prefix_router import PrefixRouter


def _app(tried: list[str]) -> FastAPI:
    tokens = PrefixRouter(prefix="/api/tokens")

    @tokens.get("/wallet/{organization_id}")
    async def wallet(organization_id: int) -> dict[str, int]:
        return {"organization_id": organization_id}

    @tokens.get("")
    async def root() -> dict[str, str]:
        return {"at": "root"}

    for route in tokens.routes:
        assert isinstance(route, APIRoute)
        original = route.matches

        def spy(scope: Any, original: Any = original) -> Any:
            tried.append(scope["path"])
            return original(scope)

        route.matches = spy  # type: ignore[method-assign]

    app = FastAPI()
    app.include_router(tokens)

    @app.get("/tokens")
    async def page() -> dict[str, str]:
        return {"at": "page"}

    return app


async def _get(app: FastAPI, method: str, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, path)


async def test_paths_under_the_prefix_reach_its_routes():
    app = _app([])
    assert (await _get(app, "GET", "/api/tokens/wallet/7")).json() == {"organization_id": 7}
    assert (await _get(app, "GET", "/api/tokens")).json() == {"at": "root"}
    assert (await _get(app, "POST", "/api/tokens/wallet/7")).status_code == 405
    assert (await _get(app, "GET", "/api/tokens/nothing")).status_code == 404


async def test_a_path_outside_the_prefix_tries_none_of_its_routes():
    tried: list[str] = []
    app = _app(tried)
    assert (await _get(app, "GET", "/tokens")).json() == {"at": "page"}
    assert (await _get(app, "GET", "/api/tokensmith")).status_code == 404
    assert tried == []
    await _get(app, "GET", "/api/tokens/wallet/7")
    assert "/api/tokens/wallet/7" in tried
