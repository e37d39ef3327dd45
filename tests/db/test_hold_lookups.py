"""A run of hold commands reads the holds it names, not every hold of their organization, even
with the plans PostgreSQL keeps from when `token_holds` was empty and never analyzed.

After a few runs a connection's PL/pgSQL statements keep a generic plan, made from what the
planner knows of the tables then. On a fresh database that is while `token_holds` is nearly empty
and never analyzed, when the organization alone, the whole primary key and the whole hold key
are all one row to the planner. Before 0029 the kept plans read a hold by id through the unique
key on the organization alone, every hold of the organization per capture; before 0030 some
connections' kept plans looked a new hold's key up through the primary key on the organization
alone, every hold of the organization per new hold. The tests' connections run as a bench
client's requests reach the API's connections, from the first hold on."""

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from db import ledger
from db.holds import OPS_RUN_SQL, HoldRequest, SettleRequest, ops_run_parameters, place_hold
from db.migrate import alembic_config
from db.spending import SpendContext
from tokenbill.devstack.databases import drop_database, recreate_database
from tokenbill.settings import Settings, to_libpq_url

DATABASE = "tokenbill_hold_lookups_test"
ROUNDS = 20
PER_RUN = 16
CONNECTIONS = 32  # the API's pool in the bench: each connection keeps plans of its own
ROUNDS_PER_CONNECTION = 12
CONTEXT = SpendContext("service", "api_key:1", "10.0.0.1", "request-1")
# Index entries that scans of token_holds' indexes read, as this connection counts them before
# it reports them (never inside a transaction: a difference within one is that transaction's).
ENTRIES_READ = (
    "SELECT sum(pg_stat_get_xact_tuples_returned(indexrelid))::integer FROM pg_index"
    " WHERE indrelid = 'token_holds'::regclass"
)

Connection = psycopg.AsyncConnection[tuple[object, ...]]


@pytest.fixture
def fresh_database(database_url: str) -> Iterator[str]:
    """A database of its own at head: `token_holds` empty and never analyzed."""
    url = recreate_database(database_url, DATABASE)
    command.upgrade(alembic_config(url, Settings(_env_file=None)), "head")
    yield url
    drop_database(database_url, DATABASE)


@pytest.fixture
async def funded_organization(fresh_database: str) -> AsyncIterator[int]:
    engine = create_async_engine(fresh_database)
    try:
        async with async_sessionmaker(engine)() as session, session.begin():
            org = await session.scalar(
                text("INSERT INTO organizations (name) VALUES ('Holds') RETURNING id")
            )
            assert org is not None
            wallet = await ledger.ensure_wallet(session, org)
            await ledger.credit(
                session, wallet_id=wallet, amount=Decimal(10_000), idempotency_key="fund"
            )
        yield int(org)
    finally:
        await engine.dispose()


async def run(
    conn: Connection, org: int, operations: Sequence[HoldRequest | SettleRequest]
) -> list[tuple[object, ...]]:
    """One call of `ledger_hold_ops_run`: its rows (item, status, hold_id, ...)."""
    cursor = await conn.execute(
        OPS_RUN_SQL, ops_run_parameters(org, [(o, CONTEXT) for o in operations], None)
    )
    return await cursor.fetchall()


async def placed_in_one_run(conn: Connection, org: int, holds: list[HoldRequest]) -> list[int]:
    """New holds as the coalescer places them (one `ledger_hold_ops_run`): their ids."""
    rows = await run(conn, org, holds)
    assert [row[1] for row in rows] == ["applied"] * len(holds)
    return [int(str(row[2])) for row in rows]


async def placed_one_by_one(conn: Connection, org: int, holds: list[HoldRequest]) -> list[int]:
    """New holds as the API places them with coalescing off (`ledger_hold` each): their ids."""
    outcomes = [await place_hold(conn, hold, CONTEXT) for hold in holds]
    assert [o.status for o in outcomes] == ["applied"] * len(holds)
    return [o.hold_id for o in outcomes if o.hold_id is not None]


async def entries_read(conn: Connection) -> int:
    rows = await (await conn.execute(ENTRIES_READ)).fetchall()
    return int(str(rows[0][0]))


async def test_a_capture_reads_its_hold_not_the_organizations_other_holds(
    fresh_database: str, funded_organization: int
) -> None:
    org = funded_organization
    expires = datetime.now(UTC) + timedelta(hours=1)
    async with await psycopg.AsyncConnection.connect(
        to_libpq_url(fresh_database), autocommit=True
    ) as conn:
        # As the bench's clients do from a fresh start: runs of new holds, then their captures;
        # this connection's plans are made along the way, as an API connection's are.
        for cycle in range(ROUNDS):
            placed = await run(conn, org, [
                HoldRequest(org, Decimal(2), f"hold-{cycle}-{n}", expires, "ttl:PT1H")
                for n in range(PER_RUN)
            ])  # fmt: skip
            captures = [SettleRequest(org, int(str(row[2])), "captured", Decimal(1))
                        for row in placed]  # fmt: skip
            if cycle < ROUNDS - 1:
                await run(conn, org, captures)
                continue
            async with conn.transaction():
                before = await entries_read(conn)
                answers = await run(conn, org, captures)
                read = await entries_read(conn) - before

    assert [row[1] for row in answers] == ["applied"] * PER_RUN
    # Each capture reads its hold's index entry to look it up and again to update it: about two
    # entries each, not the organization's hundreds of holds.
    assert read <= 2 * PER_RUN, read


@pytest.mark.parametrize("placed", [placed_in_one_run, placed_one_by_one])
async def test_a_new_hold_reads_its_key_not_the_organizations_other_holds(
    fresh_database: str,
    funded_organization: int,
    placed: Callable[[Connection, int, list[HoldRequest]], Awaitable[list[int]]],
) -> None:
    org = funded_organization
    expires = datetime.now(UTC) + timedelta(hours=1)
    placing = PER_RUN // 2
    async with AsyncExitStack() as stack:
        # As the API's pool meets the bench's clients: each connection in turn places holds and
        # captures them, so each makes its plans at its own moment while the table grows.
        connections = [
            await stack.enter_async_context(
                await psycopg.AsyncConnection.connect(to_libpq_url(fresh_database), autocommit=True)
            )
            for _ in range(CONNECTIONS)
        ]
        for cycle in range(ROUNDS_PER_CONNECTION):
            read = []
            for number, conn in enumerate(connections):
                holds = [
                    HoldRequest(org, Decimal(2), f"bench-{cycle}-{number}-hold{n}", expires,
                                "ttl:PT1H")
                    for n in range(placing)
                ]  # fmt: skip
                async with conn.transaction():
                    before = await entries_read(conn)
                    hold_ids = await placed(conn, org, holds)
                    read.append(await entries_read(conn) - before)
                await run(conn, org, [
                    SettleRequest(org, hold_id, "captured", Decimal(1)) for hold_id in hold_ids
                ])  # fmt: skip

    # In the last round, with about 2,800 holds of the organization: a new hold's key is in no
    # index yet, so looking it up through the hold key reads nothing. Before 0030 some
    # connections read every hold of the organization for each new hold: about 25,000 entries
    # for a run of 8, and twice that for 8 placed one by one (`ledger_hold` looks the key up twice).
    assert max(read) <= placing, sorted(read)[-4:]
