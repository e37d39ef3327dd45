"""The data a bench run works on, written straight into the database before the clock starts."""

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.jwt_tokens import issue_token
from db import ledger
from db.api_keys import create_api_key
from db.audit import Actor, RequestContext
from db.directory import PURCHASE, VIEW, create_user
from db.session import create_engine, create_session_maker
from services.sign_in.passwords import set_password
from services.sign_in.sessions import sign_in
from tokenbill.settings import Settings
from web.cookies import SESSION_COOKIE

BENCH = Actor.system("bench")


@dataclass(frozen=True)
class SpendingData:
    hot: list[int]
    many: list[int]
    api_key: str


@dataclass(frozen=True)
class Buyer:
    organization_id: int
    token: str
    email: str


@asynccontextmanager
async def transaction(settings: Settings) -> AsyncIterator[AsyncSession]:
    engine = create_engine(settings, pool_size=2)
    try:
        async with create_session_maker(engine)() as session, session.begin():
            yield session
    finally:
        await engine.dispose()


async def new_organizations(session: AsyncSession, prefix: str, count: int) -> list[int]:
    rows = await session.execute(
        text(
            "INSERT INTO organizations (name) SELECT :p || ' ' || g "
            "FROM generate_series(1, :n) AS g RETURNING id"
        ),
        {"p": prefix, "n": count},
    )
    return sorted(int(row[0]) for row in rows)


async def prepare_spending(settings: Settings, wallets: int) -> SpendingData:
    """One hot organization and `wallets` others, all funded far beyond the run; an API key."""
    async with transaction(settings) as session:
        orgs = await new_organizations(session, "Spender", wallets + 1)
        for org in orgs:
            wallet = await ledger.ensure_wallet(session, org)
            await ledger.credit(
                session, wallet_id=wallet, amount=Decimal(10**9),
                idempotency_key=f"bench:{org}:fund",
            )  # fmt: skip
        _, secret = await create_api_key(
            session,
            name="bench",
            scopes=["tokens.consume"],
            organization_id=None,
            all_organizations=True,
            actor=BENCH,
        )
    return SpendingData(orgs[:1], orgs[1:], secret)


async def create_package(settings: Settings, name: str) -> int:
    """A 500-token package at 0.50 per token."""
    async with transaction(settings) as session:
        found = await session.scalar(
            text(
                "INSERT INTO token_packages (name, token_quantity, price_per_token, currency) "
                "VALUES (:n, 500, 0.50, 'USD') RETURNING id"
            ),
            {"n": name},
        )
    assert found is not None
    return int(found)


async def prepare_buyers(settings: Settings, prefix: str, count: int) -> list[Buyer]:
    """`count` organizations, each with a user who may view and buy for it."""
    async with transaction(settings) as session:
        buyers: list[tuple[int, int, str]] = []
        for org in await new_organizations(session, prefix, count):
            user = await create_user(
                session, email=f"{prefix.lower()}-{org}@bench.test", organization_id=org,
                permissions=[VIEW, PURCHASE], actor=BENCH,
            )  # fmt: skip
            buyers.append((org, user.id, user.email))
    return [Buyer(org, issue_token(settings, user), email) for org, user, email in buyers]


async def console_cookie(settings: Settings, email: str) -> str:
    """A `Cookie` header of a console session of the user (a password set, then signed in)."""
    password = secrets.token_urlsafe(24)
    async with transaction(settings) as session:
        await set_password(session, email, password, actor=BENCH)
    engine = create_engine(settings, pool_size=1)
    try:
        async with create_session_maker(engine)() as session:
            signed_in = await sign_in(session, settings, email, password, RequestContext())
    finally:
        await engine.dispose()
    return f"{SESSION_COOKIE}={signed_in.token}"


async def admin_token(settings: Settings, email: str) -> str:
    """A bearer token of an admin who may view and buy for every organization."""
    async with transaction(settings) as session:
        user = await create_user(
            session, email=email, role="admin", permissions=[VIEW, PURCHASE], actor=BENCH
        )
    return issue_token(settings, user.id)


async def prepare_organizations(settings: Settings, prefix: str, count: int) -> list[int]:
    async with transaction(settings) as session:
        return await new_organizations(session, prefix, count)
