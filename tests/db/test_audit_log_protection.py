"""The audit log is append-only for the application's role; retention, on an owner connection,
drops whole monthly partitions."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db.audit import Actor, RequestContext, write_audit
from db.audit_retention import apply_retention, monthly_partitions, partition_name
from db.session import create_owner_engine
from db.spend_pool import create_spend_pool
from tokenbill.settings import Settings

Maker = async_sessionmaker[AsyncSession]


@pytest.fixture
async def owner(db_settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_owner_engine(db_settings)
    yield engine
    await engine.dispose()


async def _audited(session_maker: Maker) -> str:
    action = f"test.{uuid.uuid4().hex[:12]}"
    async with session_maker() as session, session.begin():
        await write_audit(
            session, actor=Actor.user(1), action=action, target_type="thing", target_id=7,
            before={"a": 1}, after={"a": 2},
            context=RequestContext(ip_address="198.51.100.4", request_id="req-1"),
        )  # fmt: skip
    return action


async def test_the_application_runs_as_the_restricted_role(session_maker: Maker):
    async with session_maker() as session:
        assert await session.scalar(text("SELECT current_user")) == "tokenbill_app"


async def test_the_spend_path_pool_runs_as_the_restricted_role_too(db_settings: Settings):
    pool = create_spend_pool(db_settings, size=1)
    await pool.open()
    try:
        async with pool.connection() as connection:
            cursor = await connection.execute("SELECT current_user")
            assert await cursor.fetchone() == ("tokenbill_app",)
    finally:
        await pool.close()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE token_audit_logs SET outcome = 'failure' WHERE action = :action",
        "DELETE FROM token_audit_logs WHERE action = :action",
        "TRUNCATE token_audit_logs",
    ],
)
async def test_the_database_refuses_to_rewrite_the_audit_log(session_maker: Maker, statement: str):
    action = await _audited(session_maker)
    async with session_maker() as session:
        with pytest.raises(ProgrammingError, match="permission denied"):
            await session.execute(text(statement), {"action": action})
    async with session_maker() as session:
        assert await session.scalar(
            text("SELECT count(*) FROM token_audit_logs WHERE action = :a AND outcome = 'success'"),
            {"a": action},
        ) == 1  # fmt: skip


async def test_the_partitions_cannot_be_changed_directly_either(session_maker: Maker):
    action = await _audited(session_maker)
    partition = partition_name(datetime.now(UTC).date().replace(day=1))
    async with session_maker() as session:
        with pytest.raises(ProgrammingError, match="permission denied"):
            await session.execute(text(f"DELETE FROM {partition} WHERE action = :a"), {"a": action})


async def test_each_record_keeps_actor_target_before_after_ip_and_request_id(
    session_maker: Maker,
):
    action = await _audited(session_maker)
    async with session_maker() as session:
        row = (
            await session.execute(
                text("SELECT actor_type, actor_id, target_type, target_id, before, after, "
                     "ip_address, request_id FROM token_audit_logs WHERE action = :a"),
                {"a": action},
            )
        ).one()  # fmt: skip
    assert tuple(row) == ("user", "1", "thing", "7", {"a": 1}, {"a": 2}, "198.51.100.4", "req-1")


async def test_retention_drops_old_partitions_whole_and_keeps_recent_ones(
    session_maker: Maker, owner: AsyncEngine
):
    old_action = f"test.old.{uuid.uuid4().hex[:8]}"
    # A month with no partition yet: the row lands in the default partition, so nothing fails.
    async with session_maker() as session, session.begin():
        await session.execute(
            text("INSERT INTO token_audit_logs (actor_type, action, created_at) "
                 "VALUES ('system', :a, TIMESTAMPTZ '2019-03-10 12:00:00+00')"),
            {"a": old_action},
        )  # fmt: skip
    recent_action = await _audited(session_maker)
    async with owner.begin() as connection:
        made = await connection.scalar(text("SELECT audit_log_ensure_partition(DATE '2019-03-01')"))
        assert made is True
        moved = await connection.scalar(
            text("SELECT count(*) FROM token_audit_logs_y2019m03 WHERE action = :a"),
            {"a": old_action},
        )
        assert moved == 1

    async with owner.begin() as connection:
        outcome = await apply_retention(
            connection, now=datetime.now(UTC), retention_days=365, ahead=2
        )
        partitions = await monthly_partitions(connection)

    assert "token_audit_logs_y2019m03" in outcome.partitions_dropped
    assert "token_audit_logs_y2019m03" not in partitions
    this_month = datetime.now(UTC).date().replace(day=1)
    assert partitions[partition_name(this_month)] == this_month
    async with session_maker() as session:
        remaining = await session.execute(
            text("SELECT action FROM token_audit_logs WHERE action IN (:old, :recent)"),
            {"old": old_action, "recent": recent_action},
        )
        assert [r.action for r in remaining] == [recent_action]


async def test_partitions_are_kept_created_ahead(owner: AsyncEngine):
    async with owner.begin() as connection:
        await apply_retention(connection, now=datetime(2026, 11, 20, tzinfo=UTC),
                              retention_days=365, ahead=3)  # fmt: skip
        partitions = await monthly_partitions(connection)
    for month in (date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1)):
        assert partitions[partition_name(month)] == month
