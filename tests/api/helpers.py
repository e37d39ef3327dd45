"""Helpers for the API tests: a client over the app, test users, row counts."""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from tokenbill.settings import Settings

Maker = async_sessionmaker[AsyncSession]
ALL_PERMISSIONS = ("tokens.view", "tokens.purchase", "tokens.configure")


@asynccontextmanager
async def api_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client over create_app(settings), with the app's lifespan running."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://tokenbill.test") as c:
            yield c


@dataclass(frozen=True)
class ApiUser:
    id: int
    organization_id: int | None
    token: str

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **extra}


MakeUser = Callable[..., Awaitable[ApiUser]]
MakePackage = Callable[..., Awaitable[int]]


async def count_rows(session_maker: Maker, table: str, where: str = "true", **params: Any) -> int:
    async with session_maker() as session:
        value = await session.scalar(text(f"SELECT count(*) FROM {table} WHERE {where}"), params)
    return int(value or 0)


async def denied_audit_rows(session_maker: Maker, request_id: str) -> int:
    return await count_rows(
        session_maker,
        "token_audit_logs",
        "request_id = :rid AND outcome = 'denied' AND action = 'access.denied'",
        rid=request_id,
    )


def new_request_id() -> str:
    return uuid.uuid4().hex


def new_key() -> str:
    return f"key-{uuid.uuid4()}"
