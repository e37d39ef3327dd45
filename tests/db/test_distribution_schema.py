"""The schema distributes by organisation (issue 17, docs/distributed-schema.md).

Read from the migrated database's catalogue: every table is an organisation table (it has
`organization_id`) or is classified after review (tests/db/distribution_tables.py); an
organisation table's organisation is NOT NULL, in its primary key, in every unique key, and in
every foreign key to another organisation table.

And the ledger functions stay on one organisation: each is run, acting for one organisation, in
a transaction where row-level security turns any row of another organisation that a statement
reads, locks or writes into an error, and any write to a platform table into an error.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from db import ledger
from tests.db.distribution_tables import (
    AWAITING_SPEND_FUNCTIONS,
    COORDINATOR_TABLES,
    REFERENCE_TABLES,
)

ORG = "organization_id"
MakeOrganization = Callable[..., Awaitable[int]]


async def _rows(connection: AsyncConnection, sql: str, **params: Any) -> list[Any]:
    return list((await connection.execute(text(sql), params)).all())


async def _tables(engine: AsyncEngine) -> dict[str, bool]:
    """Every table of the schema (partitions belong to their parent): has it organization_id?"""
    async with engine.connect() as connection:
        rows = await _rows(
            connection,
            "SELECT c.relname, EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid"
            "  AND a.attname = :org AND NOT a.attisdropped) AS has_org"
            " FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace"
            " AND c.relkind IN ('r', 'p') AND NOT c.relispartition",
            org=ORG,
        )
    return {row.relname: row.has_org for row in rows}


def organisation_tables(tables: dict[str, bool]) -> set[str]:
    return (
        {name for name, has_org in tables.items() if has_org}
        - set(REFERENCE_TABLES)
        - set(COORDINATOR_TABLES)
    )


async def test_every_table_is_an_organisation_table_or_reviewed(engine: AsyncEngine) -> None:
    tables = await _tables(engine)
    unclassified = {
        name
        for name, has_org in tables.items()
        if not has_org and name not in REFERENCE_TABLES and name not in COORDINATOR_TABLES
    }
    assert unclassified == set(), "classify these in tests/db/distribution_tables.py"
    assert set(REFERENCE_TABLES) & set(COORDINATOR_TABLES) == set()
    assert (set(REFERENCE_TABLES) | set(COORDINATOR_TABLES)) - set(tables) == set()


async def test_an_organisation_tables_organisation_is_never_null(engine: AsyncEngine) -> None:
    org_tables = organisation_tables(await _tables(engine))
    async with engine.connect() as connection:
        nullable = await _rows(
            connection,
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public'"
            " AND column_name = :org AND is_nullable = 'YES'",
            org=ORG,
        )
    assert {row.table_name for row in nullable} & org_tables == set()


async def _keys_without_organisation(engine: AsyncEngine, org_tables: set[str]) -> set[str]:
    """Unique indexes (primary keys, unique constraints, unique indexes) of organisation tables
    and their partitions that do not include organization_id."""
    async with engine.connect() as connection:
        rows = await _rows(
            connection,
            "SELECT i.indexrelid::regclass::text AS index, coalesce(parent.relname, t.relname)"
            "  AS owner,"
            " EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = t.oid AND a.attname = :org"
            "  AND a.attnum = ANY (i.indkey)) AS has_org"
            " FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid"
            " LEFT JOIN pg_inherits h ON h.inhrelid = t.oid"
            " LEFT JOIN pg_class parent ON parent.oid = h.inhparent"
            " WHERE t.relnamespace = 'public'::regnamespace AND i.indisunique",
            org=ORG,
        )
    return {row.index for row in rows if row.owner in org_tables and not row.has_org}


async def test_every_key_of_an_organisation_table_includes_its_organisation(
    engine: AsyncEngine,
) -> None:
    org_tables = organisation_tables(await _tables(engine))
    assert {"organization_token_wallets", "ledger_entries", "token_audit_logs"} <= org_tables
    lacking = await _keys_without_organisation(engine, org_tables)
    assert lacking - AWAITING_SPEND_FUNCTIONS == set()
    # The allowance names what still exists: once the spend functions no longer need it, it goes.
    assert AWAITING_SPEND_FUNCTIONS <= lacking


async def test_a_partitioned_tables_keys_hold_its_partition_key_and_organisation(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as connection:
        rows = await _rows(
            connection,
            "SELECT p.partrelid::regclass::text AS name,"
            " (SELECT array_agg(a.attname::text) FROM pg_attribute a"
            "   WHERE a.attrelid = p.partrelid AND a.attnum = ANY (p.partattrs)) AS partition_key,"
            " (SELECT array_agg(a.attname::text) FROM pg_constraint k JOIN pg_attribute a"
            "   ON a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey)"
            "   WHERE k.conrelid = p.partrelid AND k.contype = 'p') AS primary_key"
            " FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
            " WHERE c.relnamespace = 'public'::regnamespace",
        )
    assert rows, "the audit log is partitioned"
    for row in rows:
        assert set(row.partition_key) | {ORG} <= set(row.primary_key), row.name


async def test_a_foreign_key_between_organisation_tables_carries_the_organisation(
    engine: AsyncEngine,
) -> None:
    org_tables = organisation_tables(await _tables(engine))
    async with engine.connect() as connection:
        rows = await _rows(
            connection,
            "SELECT k.conname, k.conrelid::regclass::text AS child,"
            " k.confrelid::regclass::text AS parent,"
            " array_position(k.conkey, (SELECT attnum FROM pg_attribute"
            "   WHERE attrelid = k.conrelid AND attname = :org)) AS child_position,"
            " array_position(k.confkey, (SELECT attnum FROM pg_attribute"
            "   WHERE attrelid = k.confrelid AND attname = :org)) AS parent_position"
            " FROM pg_constraint k WHERE k.contype = 'f'"
            " AND k.connamespace = 'public'::regnamespace AND k.conparentid = 0",
            org=ORG,
        )
    between = [r for r in rows if r.child in org_tables and r.parent in org_tables]
    assert len(between) >= 20
    wrong = [
        r.conname
        for r in between
        if r.child_position is None or r.child_position != r.parent_position
    ]
    assert wrong == []
    # An organisation table never points at a coordinator-only table.
    assert [
        r.conname for r in rows if r.child in org_tables and r.parent in COORDINATOR_TABLES
    ] == []


# --- The ledger functions, acting for one organisation ---------------------------------------

PROBE_ROLE = "tokenbill_shard_probe"
GUARD = """
CREATE FUNCTION probe_same_organization(p_table text, p_organization integer) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  IF p_organization IS DISTINCT FROM
     current_setting('tokenbill.probe_organization')::integer THEN
    RAISE EXCEPTION 'crossed organisations: a row of organisation % in % while acting for %',
      p_organization, p_table, current_setting('tokenbill.probe_organization');
  END IF;
  RETURN true;
END $$
"""
PLATFORM_WRITE_GUARD = """
CREATE FUNCTION probe_refuse_platform_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'crossed organisations: % on platform table %', TG_OP, TG_TABLE_NAME;
END $$
"""


@dataclass(frozen=True)
class Org:
    id: int
    wallet: int
    expired_lot: int
    credit_key: str


async def _organisation_with_tokens(
    session_maker: async_sessionmaker[AsyncSession], make_organization: MakeOrganization
) -> Org:
    """An organisation whose wallet holds 100 tokens and an expired lot of 5."""
    org = await make_organization()
    name = f"org-{org}"
    credit_key = f"probe:{name}:credit"
    async with session_maker() as session, session.begin():
        wallet = await ledger.ensure_wallet(session, org)
        await ledger.credit(
            session, wallet_id=wallet, amount=Decimal(100), idempotency_key=credit_key
        )
        expired = await ledger.credit(
            session,
            wallet_id=wallet,
            amount=Decimal(5),
            idempotency_key=f"probe:{name}:expired",
            expires_at=datetime.now(UTC) - timedelta(days=1),
        )
        lot = await session.scalar(
            text("SELECT id FROM token_lots WHERE transaction_id = :t"),
            {"t": expired.transaction_id},
        )
        # Its `held:org-<id>` account, as its first hold makes it (ledger_accounts is a reference
        # table: one replicated write per organisation, before the probe forbids it), and a soft
        # daily limit of 1 token, so a limited spend counts and notifies.
        await session.execute(text("SELECT ledger_held_account(:o)"), {"o": org})
        await session.execute(
            text(
                "INSERT INTO spend_limits (organization_id, period, cap, mode)"
                " VALUES (:o, 'day', 1, 'soft')"
            ),
            {"o": org},
        )
    assert lot is not None
    return Org(org, wallet, int(lot), credit_key)


@pytest.fixture
async def two_organisations(
    session_maker: async_sessionmaker[AsyncSession], make_organization: MakeOrganization
) -> tuple[Org, Org]:
    return (
        await _organisation_with_tokens(session_maker, make_organization),
        await _organisation_with_tokens(session_maker, make_organization),
    )


@pytest.fixture
async def probe(
    engine: AsyncEngine, two_organisations: tuple[Org, Org]
) -> AsyncIterator[AsyncConnection]:
    """A transaction (rolled back) where every organisation table has a row-level security policy
    that raises on a row of another organisation than `tokenbill.probe_organization`, every other
    table refuses writes, and the role acting is one such policies bind. (The organisations are
    made first: the policies lock the tables until the rollback.)"""
    org_tables = organisation_tables(await _tables(engine))
    platform_tables = set(REFERENCE_TABLES) | set(COORDINATOR_TABLES)
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            # Back to the login (the application's sessions act as tokenbill_app) to own the
            # tables for a moment; a role of its own then acts, bound by the policies.
            for statement in (
                "SET LOCAL ROLE NONE",
                f"CREATE ROLE {PROBE_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS",
                f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {PROBE_ROLE}",
                f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {PROBE_ROLE}",
                GUARD,
                PLATFORM_WRITE_GUARD,
            ):
                await connection.execute(text(statement))
            for table in sorted(org_tables):
                guard = f"probe_same_organization('{table}', {ORG})"
                await connection.execute(text(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"))
                await connection.execute(
                    text(
                        f"CREATE POLICY probe ON {table} TO {PROBE_ROLE}"
                        f" USING ({guard}) WITH CHECK ({guard})"
                    )
                )
            for table in sorted(platform_tables):
                await connection.execute(
                    text(
                        f"CREATE TRIGGER probe_platform_write BEFORE INSERT OR UPDATE OR DELETE"
                        f" ON {table} FOR EACH STATEMENT"
                        f" EXECUTE FUNCTION probe_refuse_platform_write()"
                    )
                )
            # The balance check runs with each statement, not at a commit that never comes.
            await connection.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
            await connection.execute(text(f"SET LOCAL ROLE {PROBE_ROLE}"))
            yield connection
        finally:
            await transaction.rollback()


async def _acting_for(connection: AsyncConnection, organization_id: int, call: str) -> list[Any]:
    """Run one call acting for the organisation, in a savepoint: its rows, or its error."""
    await connection.execute(
        text("SELECT set_config('tokenbill.probe_organization', :o, true)"),
        {"o": str(organization_id)},
    )
    async with connection.begin_nested():
        result = await connection.execute(text(call))
        return list(result.all()) if result.returns_rows else []


def ledger_calls(org: Org) -> dict[str, list[str]]:
    """Each ledger function, called as the ledger calls it (and helpers on their own)."""
    spend_tail = "50, 10, true, 'system', 'probe', NULL, NULL"
    return {
        "ledger_post": [
            f"SELECT * FROM ledger_post('probe:c', 'purchase', {org.wallet}, 10,"
            " 'system:issuance', 'probe', 'ref', NULL)",
            f"SELECT * FROM ledger_post('probe:c', 'purchase', {org.wallet}, 10,"
            " 'system:issuance', 'probe', 'ref', NULL)",
            f"SELECT * FROM ledger_post('probe:d', 'consumption', {org.wallet}, -1,"
            " 'system:consumption', 'probe', 'ref', NULL)",
            f"SELECT * FROM ledger_post({org.id}, 'probe:o', 'purchase', {org.wallet}, 3,"
            " 'system:issuance', 'probe', 'ref', NULL)",
            f"SELECT * FROM ledger_post({org.id}, 'probe:d2', 'consumption', {org.wallet}, -1,"
            " 'system:consumption', 'probe', 'ref', NULL)",
        ],
        "ledger_spend": [
            # 116 tokens held (105, +10 -1 +3 -1 above): this spend crosses a low threshold of
            # 115 (an alert, an event).
            f"SELECT * FROM ledger_spend('probe:s', {org.id}, 2, 'probe', 'ref', 115, 10, true,"
            " 'system', 'probe', NULL, NULL)",
            f"SELECT * FROM ledger_spend('probe:s', {org.id}, 2, 'probe', 'ref', {spend_tail})",
            f"SELECT * FROM ledger_spend('probe:big', {org.id}, 100000, 'p', NULL, {spend_tail})",
        ],
        "ledger_spend_batch": [
            f"SELECT * FROM ledger_spend_batch(ARRAY['probe:b1', 'probe:b2', 'probe:s'],"
            f" ARRAY[{org.id}, {org.id}, {org.id}], ARRAY[1, 100000, 2]::numeric[],"
            " ARRAY['p', 'p', 'probe'], ARRAY[NULL, NULL, 'ref']::text[], " + spend_tail + ")",
        ],
        "ledger_expire_lot": [
            f"SELECT * FROM ledger_expire_lot('probe:x', {org.expired_lot}, 'probe')",
            f"SELECT * FROM ledger_expire_lot('probe:x', {org.expired_lot}, 'probe')",
        ],
        # Two freezes of the purchase's lot (before its reversal empties it): one released,
        # one forfeited.
        "ledger_dispute_freeze": [
            f"SELECT * FROM ledger_dispute_freeze('probe:f1', '{org.credit_key}', 1, 'p', 'ref')",
            f"SELECT * FROM ledger_dispute_freeze('probe:f1', '{org.credit_key}', 1, 'p', 'ref')",
            f"SELECT * FROM ledger_dispute_freeze('probe:f2', '{org.credit_key}', 1, 'p', 'ref')",
        ],
        "ledger_dispute_release": [
            "SELECT * FROM ledger_dispute_release('probe:fr', 'probe:f1',"
            f" '{org.credit_key}', 'p', 'ref')",
            "SELECT * FROM ledger_dispute_release('probe:fr', 'probe:f1',"
            f" '{org.credit_key}', 'p', 'ref')",
        ],
        "ledger_dispute_forfeit": [
            "SELECT * FROM ledger_dispute_forfeit('probe:ff', 'probe:f2', 'p', 'ref')",
            "SELECT * FROM ledger_dispute_forfeit('probe:ff', 'probe:f2', 'p', 'ref')",
        ],
        "ledger_reverse_lot": [
            f"SELECT * FROM ledger_reverse_lot('probe:r', '{org.credit_key}', 'probe', 'ref')",
            f"SELECT * FROM ledger_reverse_lot('probe:r', '{org.credit_key}', 'probe', 'ref')",
        ],
        "ledger_spend_replay": [
            f"SELECT * FROM ledger_spend_replay({org.id}, 'probe:s', 2, 'probe', 'ref')",
        ],
        "ledger_spend_refusal": [f"SELECT * FROM ledger_spend_refusal({org.id}, 1, NULL)"],
        "ledger_expired_remainder": [
            f"SELECT ledger_expired_remainder({org.id}, {org.wallet})",
        ],
        "ledger_topup_threshold": [
            f"SELECT ledger_topup_threshold({org.id}, {org.wallet}, true)",
        ],
        "ledger_draw_lots": [
            f"SELECT ledger_draw_lots({org.id}, {org.wallet}, 1)",
        ],
        # Called by ledger_spend with the wallet it locked; here with the same arguments.
        "ledger_spend_book": [
            f"SELECT ledger_spend_book(t.id, t.idempotency_key, {org.wallet}, w.ledger_account_id,"
            f" {org.id}, 1, 3, 2, 'probe', NULL, 3, 1, 3, 'system', 'probe', NULL, NULL)"
            " FROM ledger_transactions t, organization_token_wallets w"
            f" WHERE t.organization_id = {org.id} AND t.idempotency_key = 'probe:book'"
            f" AND w.organization_id = {org.id}",
        ],
        "ledger_spend_limited": [
            f"SELECT * FROM ledger_spend_limited('probe:l', {org.id}, 1, 'p', NULL, {spend_tail},"
            " NULL, NULL)",
            f"SELECT * FROM ledger_spend_limited('probe:l', {org.id}, 1, 'p', NULL, {spend_tail},"
            " NULL, NULL)",
        ],
        "ledger_spend_batch_limited": [
            "SELECT * FROM ledger_spend_batch_limited(ARRAY['probe:lb', 'probe:l'],"
            f" ARRAY[{org.id}, {org.id}], ARRAY[1, 1]::numeric[], ARRAY['p', 'p'],"
            " ARRAY[NULL, NULL]::text[], 50, 10, true, 'system', 'probe', NULL, NULL,"
            " ARRAY[NULL, NULL]::integer[], NULL)",
        ],
        # The same run with its audit contexts as a parameter (0028), in one statement.
        "ledger_spend_batch_in_context": [
            'SELECT * FROM ledger_spend_batch_in_context(\'{"probe:lc": ["system",'
            ' "probe", "10.0.0.9", "r-1"]}\', ARRAY[\'probe:lc\'], ARRAY['
            f"{org.id}], ARRAY[1]::numeric[], ARRAY['p'], ARRAY[NULL]::text[], 50, 10, true,"
            " 'system', 'probe', NULL, NULL, ARRAY[NULL]::integer[], NULL)",
        ],
        "spend_limit_check": [f"SELECT * FROM spend_limit_check({org.id}, NULL, 1, now())"],
        "spend_limit_count": [f"SELECT spend_limit_count({org.id}, NULL, 1, now())"],
        "spend_limit_notify": [f"SELECT spend_limit_notify({org.id}, NULL, {org.wallet}, now())"],
        "spend_limit_take": [f"SELECT * FROM spend_limit_take({org.id}, NULL, 1, now(), false)"],
        "ledger_hold": [
            f"SELECT * FROM ledger_hold('probe:h1', {org.id}, 2, now() + interval '1 hour',"
            " 'PT1H', 'p', 'ref', 'system', 'probe', NULL, NULL)",
            f"SELECT * FROM ledger_hold('probe:h1', {org.id}, 2, now() + interval '1 hour',"
            " 'PT1H', 'p', 'ref', 'system', 'probe', NULL, NULL)",
            f"SELECT * FROM ledger_hold('probe:h2', {org.id}, 2, now() + interval '1 hour',"
            " 'PT1H', 'p', 'ref', 'system', 'probe', NULL, NULL)",
            f"SELECT * FROM ledger_hold('probe:h3', {org.id}, 2, now() + interval '1 hour',"
            " 'PT1H', 'p', 'ref', 'system', 'probe', NULL, NULL)",
        ],
        "ledger_hold_settle": [
            f"SELECT * FROM ledger_hold_settle({org.id}, {_hold(org, 'probe:h1')}, 'captured', 1,"
            " 'system', 'probe', NULL, NULL)",
            f"SELECT * FROM ledger_hold_settle({org.id}, {_hold(org, 'probe:h2')}, 'released',"
            " NULL, 'system', 'probe', NULL, NULL)",
        ],
        "ledger_hold_capture_batch": [
            f"SELECT * FROM ledger_hold_capture_batch(ARRAY[{org.id}],"
            f" ARRAY[{_hold(org, 'probe:h3')}], ARRAY[NULL]::numeric[], 'system', 'probe',"
            " NULL, NULL)",
        ],
        # A run of holds and settlements (0025): two holds placed in one call, then the first
        # replayed, captured and the second released in another.
        "ledger_hold_ops_run": [
            f"SELECT * FROM ledger_hold_ops_run({org.id}, ARRAY['hold', 'hold'],"
            " ARRAY['probe:hr1', 'probe:hr2'], ARRAY[1, 1]::numeric[],"
            " ARRAY[now() + interval '1 hour', now() + interval '1 hour'], ARRAY['PT1H', 'PT1H'],"
            " ARRAY['p', 'p'], ARRAY['ref', 'ref'], ARRAY[NULL, NULL]::integer[],"
            " ARRAY[NULL, NULL]::bigint[], ARRAY['system', 'system'], ARRAY['probe', 'probe'],"
            " ARRAY[NULL, NULL]::text[], ARRAY[NULL, NULL]::text[])",
            f"SELECT * FROM ledger_hold_ops_run({org.id}, ARRAY['hold', 'captured', 'released'],"
            " ARRAY['probe:hr1', NULL, NULL], ARRAY[1, 1, NULL]::numeric[],"
            " ARRAY[now() + interval '1 hour', NULL, NULL], ARRAY['PT1H', NULL, NULL],"
            " ARRAY['p', NULL, NULL], ARRAY['ref', NULL, NULL], ARRAY[NULL, NULL, NULL]::integer[],"
            f" ARRAY[NULL, {_hold(org, 'probe:hr1')}, {_hold(org, 'probe:hr2')}],"
            " ARRAY['system', 'system', 'system'], ARRAY['probe', 'probe', 'probe'],"
            " ARRAY[NULL, NULL, NULL]::text[], ARRAY[NULL, NULL, NULL]::text[])",
        ],
        "ledger_hold_answer": [
            f"SELECT * FROM ledger_hold_answer('replayed', {org.id}, {_hold(org, 'probe:h1')})"
        ],
        # Pure date arithmetic, on no table.
        "spend_limit_period_start": ["SELECT spend_limit_period_start('day', now())"],
        "spend_limit_period_end": ["SELECT spend_limit_period_end('month', now())"],
        # A hold's alerts (0024), on the booking's transaction: a critical crossing (the low
        # one is ledger_spend_book's above).
        "ledger_balance_alerts": [
            f"SELECT ledger_balance_alerts({org.id}, {org.wallet}, t.id, 3, 2, NULL, 3, NULL)"
            " FROM ledger_transactions t"
            f" WHERE t.organization_id = {org.id} AND t.idempotency_key = 'probe:book'",
        ],
        # A reversal's release of the newest holds (0024): a hold placed, then released whole.
        "ledger_release_holds_for_reversal": [
            f"SELECT * FROM ledger_hold('probe:h4', {org.id}, 2, now() + interval '1 hour',"
            " 'PT1H', 'p', 'ref', 'system', 'probe', NULL, NULL)",
            f"SELECT ledger_release_holds_for_reversal({org.id}, {org.wallet}, 1, 'probe:rev')",
        ],
        "ledger_held_account": [f"SELECT ledger_held_account({org.id})"],
        "ledger_draw_held_lots": [f"SELECT ledger_draw_held_lots({org.id}, {org.wallet}, 1)"],
    }


def _hold(org: Org, key: str) -> str:
    return (
        f"(SELECT h.id FROM token_holds h WHERE h.organization_id = {org.id}"
        f" AND h.idempotency_key = '{key}')"
    )


async def test_no_ledger_function_touches_another_organisations_rows(
    engine: AsyncEngine, two_organisations: tuple[Org, Org], probe: AsyncConnection
) -> None:
    acting, other = two_organisations
    async with engine.connect() as connection:
        functions = {
            row.proname
            for row in await _rows(
                connection,
                "SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
                " AND (proname LIKE 'ledger\\_%' OR proname LIKE 'spend\\_limit\\_%')",
            )
        }
    calls = ledger_calls(acting)
    assert functions - set(calls) == set(), "add the new ledger function to ledger_calls"
    # The booking's transaction row, as ledger_spend inserts it before booking.
    await _acting_for(
        probe,
        acting.id,
        "INSERT INTO ledger_transactions (organization_id, idempotency_key, kind, wallet_id,"
        f" amount) VALUES ({acting.id}, 'probe:book', 'consumption', {acting.wallet}, 1)",
    )
    answers: dict[str, list[list[Any]]] = {}
    for name, statements in calls.items():
        answers[name] = [await _acting_for(probe, acting.id, call) for call in statements]

    # They ran for real: tokens moved, a replay answered, a refusal said why.
    assert answers["ledger_post"][1][0].replayed is True
    assert [a[0].status for a in answers["ledger_spend"]] == [
        "applied",
        "replayed",
        "insufficient_balance",
    ]
    assert answers["ledger_spend"][0][0].events == 1
    assert [r.status for r in answers["ledger_spend_batch"][0]] == [
        "applied",
        "insufficient_balance",
        "replayed",
    ]
    assert answers["ledger_expire_lot"][0][0].kind == "expiry"
    assert answers["ledger_expire_lot"][1][0].replayed is True
    assert answers["ledger_reverse_lot"][0][0].kind == "reversal"
    assert answers["ledger_spend_replay"][0][0].status == "replayed"
    assert [a[0].kind for a in answers["ledger_dispute_freeze"]] == ["dispute_freeze"] * 3
    assert [a[0].replayed for a in answers["ledger_dispute_freeze"]] == [False, True, False]
    assert answers["ledger_dispute_release"][1][0].replayed is True
    assert answers["ledger_dispute_forfeit"][1][0].replayed is True
    assert [a[0].status for a in answers["ledger_spend_limited"]] == ["applied", "replayed"]
    assert answers["ledger_spend_limited"][0][0].events == 1  # the soft limit's event
    assert [r.status for r in answers["ledger_spend_batch_limited"][0]] == ["applied", "replayed"]
    assert [r.status for r in answers["ledger_spend_batch_in_context"][0]] == ["applied"]
    assert answers["spend_limit_take"][0][0].taken is True
    assert [a[0].status for a in answers["ledger_hold"]] == [
        "applied",
        "replayed",
        "applied",
        "applied",
    ]
    assert [a[0].hold_status for a in answers["ledger_hold_settle"]] == ["captured", "released"]
    assert answers["ledger_hold_capture_batch"][0][0].status == "applied"
    assert [[r.status for r in a] for a in answers["ledger_hold_ops_run"]] == [
        ["applied", "applied"],
        ["replayed", "applied", "applied"],
    ]
    assert [r.hold_status for r in answers["ledger_hold_ops_run"][1]] == [
        "active",
        "captured",
        "released",
    ]
    assert answers["ledger_balance_alerts"][0][0][0] == 1
    assert answers["ledger_release_holds_for_reversal"][1][0][0] == 2
    assert other.id != acting.id


async def test_the_probe_refuses_a_function_that_reads_another_organisations_wallet(
    two_organisations: tuple[Org, Org], probe: AsyncConnection
) -> None:
    acting, other = two_organisations
    await probe.execute(
        text(
            "CREATE FUNCTION pg_temp.spend_against_platform_total(p_organization_id integer)"
            " RETURNS numeric LANGUAGE sql AS $$"
            "  SELECT sum(current_balance) FROM organization_token_wallets $$"
        )
    )
    with pytest.raises(DBAPIError, match="crossed organisations: a row of organisation"):
        await _acting_for(
            probe, acting.id, f"SELECT pg_temp.spend_against_platform_total({acting.id})"
        )
    # The same statement filtered by the organisation is fine.
    assert await _acting_for(
        probe,
        acting.id,
        "SELECT sum(current_balance) FROM organization_token_wallets"
        f" WHERE organization_id = {acting.id}",
    ) == [(Decimal(105),)]
    with pytest.raises(DBAPIError, match="crossed organisations"):
        await _acting_for(
            probe,
            acting.id,
            f"UPDATE token_lots SET remaining_amount = remaining_amount"
            f" WHERE wallet_id = {other.wallet}",
        )


async def test_the_probe_refuses_a_function_that_updates_a_system_accounts_row(
    two_organisations: tuple[Org, Org], probe: AsyncConnection
) -> None:
    acting, _ = two_organisations
    with pytest.raises(DBAPIError, match="crossed organisations: UPDATE on platform table"):
        await _acting_for(
            probe,
            acting.id,
            "UPDATE ledger_accounts SET description = description WHERE code = 'system:issuance'",
        )
