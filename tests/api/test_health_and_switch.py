"""Health reports each dependency and liveness none; the token-system switch closes every
/api/tokens route."""

import httpx

from tests.api.helpers import ApiUser, api_client
from tokenbill.devstack.ports import free_port
from tokenbill.settings import Settings


async def test_health_is_healthy_when_database_and_temporal_answer(client: httpx.AsyncClient):
    response = await client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "healthy",
        "checks": {"database": "up", "temporal": "up"},
        "token_system": "enabled",
    }


async def test_health_is_unhealthy_when_temporal_is_unreachable(api_settings: Settings):
    unreachable = api_settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})
    async with api_client(unreachable) as client:
        response = await client.get("/api/health")
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"
    assert response.json()["checks"] == {"database": "up", "temporal": "down"}


async def test_liveness_answers_without_the_database_or_temporal(api_settings: Settings):
    unreachable = api_settings.model_copy(
        update={
            "database_url": f"postgresql://nobody@127.0.0.1:{free_port()}/nothing",
            "temporal_address": f"127.0.0.1:{free_port()}",
        }
    )
    async with api_client(unreachable) as client:
        live = await client.get("/api/health/live")
        ready = await client.get("/api/health")
    assert live.status_code == 200
    assert live.json() == {"status": "alive"}
    assert ready.status_code == 503


async def test_an_unreachable_database_answers_503(api_settings: Settings, admin: ApiUser):
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"
    async with api_client(api_settings.model_copy(update={"database_url": url})) as client:
        health = await client.get("/api/health")
        packages = await client.get("/api/tokens/packages", headers=admin.headers())
    assert health.status_code == 503
    assert health.json()["checks"] == {"database": "down", "temporal": "up"}
    assert packages.status_code == 503
    assert packages.json()["error"]["code"] == "database_unavailable"


async def test_disabled_token_system_answers_503_on_every_tokens_route(
    api_settings: Settings, admin: ApiUser
):
    disabled = api_settings.model_copy(update={"enable_token_system": False})
    async with api_client(disabled) as client:
        health = await client.get("/api/health")
        answers = [
            await client.get("/api/tokens/packages", headers=admin.headers()),
            await client.get("/api/tokens/wallet/1"),
            await client.post("/api/tokens/purchases", json={}, headers=admin.headers()),
            await client.get("/api/tokens/admin/users", headers=admin.headers()),
        ]
    assert health.status_code == 200
    assert health.json()["token_system"] == "disabled"
    for answer in answers:
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "token_system_disabled"
