"""Migrations 0024 (holds at reversals, hold alerts), 0025 (a spend's first-lot draw) and 0026
(runs of hold commands) go down to 0023 leaving every function exactly as 0023 defined it, and
come up again; 0027 (a run settles its holds by id) changes one statement of one function and
comes down to 0026's; 0029 (the hold key's columns reordered, a run's holds settled one by one)
comes down to 0028's; each on a database of its own."""

from collections.abc import Iterator

import psycopg
import pytest
from alembic import command

from db.migrate import alembic_config
from tokenbill.devstack.databases import drop_database, recreate_database
from tokenbill.settings import Settings, to_libpq_url

DATABASE = "tokenbill_hold_migrations_test"
FUNCTIONS = """
SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid)
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'public' AND p.prokind = 'f'
"""
HOLD_OPS_RUN = (
    "ledger_hold_ops_run(integer,text[],text[],numeric[],timestamp with time zone[],text[],"
    "text[],text[],integer[],bigint[],text[],text[],text[],text[],numeric,numeric,boolean)"
)
UNIQUE_KEY_COLUMNS = """
SELECT a.attname
  FROM pg_constraint c
  CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, position)
  JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
 WHERE c.conname = 'uq_token_holds_key'
 ORDER BY k.position
"""
ADDED = {
    "ledger_release_holds_for_reversal",
    "ledger_balance_alerts",
    "ledger_hold_ops_run",
}


@pytest.fixture
def database(database_url: str) -> Iterator[str]:
    url = recreate_database(database_url, DATABASE)
    yield url
    drop_database(database_url, DATABASE)


def functions(url: str) -> dict[str, str]:
    """Each function's signature and its whole definition."""
    with psycopg.connect(to_libpq_url(url)) as conn:
        return {str(name): str(body) for name, body in conn.execute(FUNCTIONS)}


def names(defined: dict[str, str]) -> set[str]:
    return {signature.split("(")[0] for signature in defined}


def test_0024_to_0026_come_down_to_0023s_functions_exactly_and_go_up_again(database: str) -> None:
    config = alembic_config(database, Settings(_env_file=None))
    command.upgrade(config, "0023")
    at_0023 = functions(database)
    command.upgrade(config, "0026")
    at_0026 = functions(database)
    command.downgrade(config, "0023")
    back_at_0023 = functions(database)
    command.upgrade(config, "0026")

    assert ADDED <= names(at_0026) and not ADDED & names(at_0023)
    changed = {name for name in at_0023 if at_0026.get(name) != at_0023[name]}
    assert changed, "0024-0026 re-create some of 0023's functions"
    assert back_at_0023 == at_0023
    assert functions(database) == at_0026


def test_0027_changes_only_the_run_settlement_update_and_comes_down_exactly(database: str) -> None:
    config = alembic_config(database, Settings(_env_file=None))
    command.upgrade(config, "0026")
    at_0026 = functions(database)
    command.upgrade(config, "0027")
    at_0027 = functions(database)
    command.downgrade(config, "0026")
    back_at_0026 = functions(database)

    assert {name for name in at_0026 if at_0027.get(name) != at_0026[name]} == {HOLD_OPS_RUN}
    assert at_0027.keys() == at_0026.keys()
    assert "h.id = ANY (s_hold)" in at_0027[HOLD_OPS_RUN]
    assert "h.id = ANY (s_hold)" not in at_0026[HOLD_OPS_RUN]
    assert back_at_0026 == at_0026


def unique_key_columns(url: str) -> list[str]:
    with psycopg.connect(to_libpq_url(url)) as conn:
        rows = conn.execute(UNIQUE_KEY_COLUMNS).fetchall()
    return [str(name) for (name,) in rows]


def test_0029_reorders_the_hold_key_and_settles_one_by_one_and_comes_down_exactly(
    database: str,
) -> None:
    config = alembic_config(database, Settings(_env_file=None))
    command.upgrade(config, "0028")
    at_0028, key_at_0028 = functions(database), unique_key_columns(database)
    command.upgrade(config, "0029")
    at_0029, key_at_0029 = functions(database), unique_key_columns(database)
    command.downgrade(config, "0028")

    assert {name for name in at_0028 if at_0029.get(name) != at_0028[name]} == {HOLD_OPS_RUN}
    assert "h.id = s_hold[v_j]" in at_0029[HOLD_OPS_RUN]
    assert "h.id = ANY (s_hold)" not in at_0029[HOLD_OPS_RUN]
    assert key_at_0028 == ["organization_id", "idempotency_key"]
    assert key_at_0029 == ["idempotency_key", "organization_id"]
    assert functions(database) == at_0028
    assert unique_key_columns(database) == key_at_0028
