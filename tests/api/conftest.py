"""API fixtures: the app over the real database and Temporal dev server, users with tokens."""

import itertools
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from api.auth.jwt_tokens import issue_token
from db import directory
from db.audit import Actor
from tests.api.helpers import (
    ALL_PERMISSIONS,
    ApiUser,
    MakePackage,
    Maker,
    MakeUser,
    api_client,
)
from tests.database_helpers import insert_package
from tokenbill.settings import Settings

_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def api_settings(settings: Settings) -> Settings:
    """The suite's settings on a task queue of their own: no worker runs the purchases started
    here, so they stay pending (and no other suite's worker picks them up)."""
    return settings.model_copy(update={"temporal_task_queue": "tokenbill-api-tests"})


@pytest.fixture(scope="session")
async def client(api_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(api_settings) as c:
        yield c


@pytest.fixture
def make_user(settings: Settings, session_maker: Maker) -> MakeUser:
    async def make(
        organization_id: int | None,
        permissions: tuple[str, ...] = ALL_PERMISSIONS,
        *,
        role: directory.Role = "user",
    ) -> ApiUser:
        async with session_maker() as session, session.begin():
            record = await directory.create_user(
                session,
                email=f"user{next(_numbers)}-{uuid.uuid4().hex[:8]}@api.test",
                role=role,
                organization_id=organization_id,
                permissions=permissions,
                actor=Actor.system("tests"),
            )
        return ApiUser(record.id, organization_id, issue_token(settings, record.id))

    return make


@pytest.fixture
async def admin(make_user: MakeUser) -> ApiUser:
    return await make_user(None, (), role="admin")


@pytest.fixture
def make_package(session_maker: Maker) -> MakePackage:
    async def make(
        tokens: str = "500", price: str = "0.50", *, active: bool = True, currency: str = "USD"
    ) -> int:
        name = f"Test Pack {uuid.uuid4().hex[:12]}"
        return await insert_package(
            session_maker,
            name,
            tokens=Decimal(tokens),
            price=Decimal(price),
            currency=currency,
            active=active,
        )

    return make
