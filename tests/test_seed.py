"""The seed data: standard packages, the demo organization and users, and idempotence."""

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.audit import Actor
from db.directory import create_organization
from db.migrate import upgrade_to_head
from db.seed import SeedConflict, seed_demo, seed_packages
from db.session import create_engine, create_session_maker
from tokenbill.devstack.databases import drop_database, recreate_database
from tokenbill.settings import Settings

DATABASE = "tokenbill_seed_test"


@pytest.fixture(scope="module")
def seed_settings(database_url: str) -> Iterator[Settings]:
    """A database of its own: the demo organization must be organization 1."""
    url = recreate_database(database_url, DATABASE)
    upgrade_to_head(url)
    yield Settings(_env_file=None, database_url=url)
    drop_database(database_url, DATABASE)


@pytest.fixture(scope="module")
async def seed_sessions(
    seed_settings: Settings,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(seed_settings, pool_size=2)
    yield create_session_maker(engine)
    await engine.dispose()


async def seed_everything(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> tuple[list[str], list[str]]:
    async with sessions() as session, session.begin():
        packages = await seed_packages(session, settings)
        demo = await seed_demo(session)
    return [*packages.created, *demo.created], [*packages.kept, *demo.kept]


async def rows(session: AsyncSession, query: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in (await session.execute(text(query))).all()]


async def test_seed_creates_the_standard_packages_at_the_default_price(
    seed_sessions: async_sessionmaker[AsyncSession], seed_settings: Settings
) -> None:
    await seed_everything(seed_sessions, seed_settings)
    async with seed_sessions() as session:
        packages = await rows(
            session,
            "SELECT name, token_quantity, price_per_token, currency, is_active "
            "FROM token_packages ORDER BY id",
        )
    assert packages == [
        ("Starter Pack", Decimal("100"), Decimal("0.50"), "USD", True),
        ("Business Pack", Decimal("500"), Decimal("0.50"), "USD", True),
        ("Enterprise Pack", Decimal("2000"), Decimal("0.50"), "USD", True),
        ("Premium Pack", Decimal("5000"), Decimal("0.50"), "USD", True),
    ]


async def test_seed_creates_the_demo_organization_and_users_with_their_permissions(
    seed_sessions: async_sessionmaker[AsyncSession], seed_settings: Settings
) -> None:
    await seed_everything(seed_sessions, seed_settings)
    async with seed_sessions() as session:
        organizations = await rows(session, "SELECT id, name, is_active FROM organizations")
        users = await rows(
            session,
            "SELECT email, role, user_type, organization_id, permissions, is_active "
            "FROM users ORDER BY email",
        )
        audited = await rows(
            session,
            "SELECT action, actor_type, actor_id, target_id FROM token_audit_logs "
            "WHERE action IN ('organization.create', 'user.create') ORDER BY id",
        )
    assert organizations == [(1, "Demo Health Insurer", True)]
    assert users == [
        ("admin@demo.test", "admin", None, None,
         ["tokens.configure", "tokens.purchase", "tokens.view"], True),
        ("buyer@demo.test", "user", "insurance", 1, ["tokens.purchase", "tokens.view"], True),
        ("viewer@demo.test", "user", None, 1, ["tokens.view"], True),
    ]  # fmt: skip
    assert [a[:3] for a in audited] == [
        ("organization.create", "system", "seed"),
        ("user.create", "system", "seed"),
        ("user.create", "system", "seed"),
        ("user.create", "system", "seed"),
    ]


async def test_seeding_twice_changes_nothing(
    seed_sessions: async_sessionmaker[AsyncSession], seed_settings: Settings
) -> None:
    queries = [
        "SELECT * FROM token_packages ORDER BY id",
        "SELECT * FROM organizations ORDER BY id",
        "SELECT * FROM users ORDER BY id",
        "SELECT * FROM token_audit_logs ORDER BY id",
        "SELECT last_value, is_called FROM organizations_id_seq",
    ]
    await seed_everything(seed_sessions, seed_settings)
    async with seed_sessions() as session:
        before = [await rows(session, q) for q in queries]

    created, kept = await seed_everything(seed_sessions, seed_settings)

    async with seed_sessions() as session:
        after = [await rows(session, q) for q in queries]
    assert after == before
    assert created == []
    assert len(kept) == 4 + 1 + 3


async def test_organizations_created_after_the_demo_seed_get_fresh_ids(
    seed_sessions: async_sessionmaker[AsyncSession], seed_settings: Settings
) -> None:
    await seed_everything(seed_sessions, seed_settings)
    async with seed_sessions() as session, session.begin():
        created = await create_organization(session, "Second Insurer", actor=Actor.system("test"))
        await session.rollback()
    assert created.id > 1


async def test_a_changed_price_setting_leaves_existing_packages_alone(
    seed_sessions: async_sessionmaker[AsyncSession], seed_settings: Settings
) -> None:
    await seed_everything(seed_sessions, seed_settings)
    dearer = seed_settings.model_copy(update={"default_token_price": Decimal("0.75")})
    async with seed_sessions() as session, session.begin():
        report = await seed_packages(session, dearer)
        prices = await rows(session, "SELECT DISTINCT price_per_token FROM token_packages")
    assert report.created == ()
    assert prices == [(Decimal("0.50"),)]


async def test_packages_take_the_configured_price_and_currency(
    seed_sessions: async_sessionmaker[AsyncSession], seed_settings: Settings
) -> None:
    configured = seed_settings.model_copy(
        update={"default_token_price": Decimal("0.25"), "token_currency": "EUR"}
    )
    async with seed_sessions() as session, session.begin():
        await session.execute(text("DELETE FROM token_packages"))
        await seed_packages(session, configured)
        packages = await rows(
            session,
            "SELECT name, token_quantity, price_per_token, currency FROM token_packages "
            "ORDER BY token_quantity",
        )
        await session.rollback()
    assert packages == [
        ("Starter Pack", Decimal("100"), Decimal("0.25"), "EUR"),
        ("Business Pack", Decimal("500"), Decimal("0.25"), "EUR"),
        ("Enterprise Pack", Decimal("2000"), Decimal("0.25"), "EUR"),
        ("Premium Pack", Decimal("5000"), Decimal("0.25"), "EUR"),
    ]


async def test_demo_seed_refuses_an_organization_1_that_is_another_organization(
    seed_sessions: async_sessionmaker[AsyncSession], seed_settings: Settings
) -> None:
    await seed_everything(seed_sessions, seed_settings)
    async with seed_sessions() as session, session.begin():
        await session.execute(text("UPDATE organizations SET name = 'Someone Else' WHERE id = 1"))
        with pytest.raises(SeedConflict, match="Someone Else"):
            await seed_demo(session)
        await session.rollback()
