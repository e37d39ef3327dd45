"""Console fixtures: the app in process over the test database, and users with passwords."""

import itertools
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest

from db import directory
from db.audit import Actor
from services.sign_in.passwords import set_password
from tests.api.helpers import Maker, api_client
from tokenbill.settings import Settings

PASSWORD = "correct horse battery staple"
_numbers = itertools.count(1)
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class ConsoleUser:
    id: int
    email: str
    organization_id: int | None


MakeConsoleUser = Callable[..., Awaitable[ConsoleUser]]


@pytest.fixture
async def console(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A fresh browser-like client (its own cookie jar) over the app."""
    async with api_client(settings) as client:
        yield client


@pytest.fixture
def make_console_user(session_maker: Maker) -> MakeConsoleUser:
    async def make(
        organization_id: int | None,
        permissions: tuple[str, ...] = (directory.VIEW,),
        *,
        role: directory.Role = "user",
    ) -> ConsoleUser:
        email = f"console{next(_numbers)}-{uuid.uuid4().hex[:8]}@web.test"
        async with session_maker() as session, session.begin():
            record = await directory.create_user(
                session, email=email, role=role, organization_id=organization_id,
                permissions=permissions, actor=Actor.system("tests"),
            )  # fmt: skip
            await set_password(session, email, PASSWORD, actor=Actor.system("tests"))
        return ConsoleUser(record.id, email, organization_id)

    return make


def csrf_of(page: httpx.Response) -> str:
    found = _CSRF_FIELD.search(page.text)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    form = await client.get("/sign-in")
    return await client.post(
        "/sign-in",
        data={"email": email, "password": password, "csrf_token": csrf_of(form)},
    )
