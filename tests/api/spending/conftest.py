"""Spend route fixtures: the app served by uvicorn on a real port (so spends travel over HTTP),
without Temporal (relay nudges fail fast and are logged), funded wallets and API keys."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import httpx
import pytest
import uvicorn

from api.app import create_app
from db import ledger
from db.api_keys import create_api_key
from db.audit import Actor
from tests.api.helpers import Maker
from tokenbill.devstack.ports import free_port
from tokenbill.settings import Settings

FundOrganization = Callable[..., Awaitable[int]]
MakeApiKey = Callable[..., Awaitable[str]]


@dataclass(frozen=True)
class LiveApi:
    url: str
    settings: Settings

    def client(self, credential: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {credential}"} if credential else {}
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=60, limits=limits)


async def serve(settings: Settings) -> AsyncIterator[LiveApi]:
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield LiveApi(f"http://127.0.0.1:{port}", settings)
    finally:
        server.should_exit = True
        await task


@pytest.fixture(scope="session")
def spend_settings(db_settings: Settings) -> Settings:
    return db_settings.model_copy(update={"temporal_address": None, "spend_pool_size": 20})


@pytest.fixture(scope="session")
async def live_api(spend_settings: Settings) -> AsyncIterator[LiveApi]:
    async for api in serve(spend_settings):
        yield api


@pytest.fixture
async def api(live_api: LiveApi) -> AsyncIterator[httpx.AsyncClient]:
    async with live_api.client() as client:
        yield client


@pytest.fixture
def fund(
    session_maker: Maker, make_organization: Callable[..., Awaitable[int]]
) -> FundOrganization:
    """A new organization whose wallet holds the given lots (amount, expiry)."""

    async def make(*lots: tuple[str, datetime | None] | str) -> int:
        org = await make_organization()
        async with session_maker() as session, session.begin():
            wallet = await ledger.ensure_wallet(session, org)
            for number, lot in enumerate(lots):
                amount, expires = (lot, None) if isinstance(lot, str) else lot
                await ledger.credit(
                    session, wallet_id=wallet, amount=Decimal(amount),
                    idempotency_key=f"test:{org}:lot-{number}", expires_at=expires,
                )  # fmt: skip
        return org

    return make


@pytest.fixture
def make_api_key(session_maker: Maker) -> MakeApiKey:
    async def make(
        organization_id: int | None = None, scopes: tuple[str, ...] = ("tokens.consume",)
    ) -> str:
        async with session_maker() as session, session.begin():
            _, secret = await create_api_key(
                session, name="test key", scopes=scopes, organization_id=organization_id,
                all_organizations=organization_id is None,
                actor=Actor.system("tests"),
            )  # fmt: skip
        return secret

    return make
