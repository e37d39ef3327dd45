"""Migrations 0024 (holds at reversals, hold alerts), 0025 (a spend's first-lot draw) and 0026
(runs of hold commands) go down to 0023 leaving every function exactly as 0023 defined it, and
come up again; 0027 (a run settles its holds by id) changes one statement of one function and
comes down to 0026's; 0029 (the hold key's columns reordered, a run's holds settled one by one)
comes down to 0028's; 0030 (hold keys looked up by statements planned each time) comes down to
0029's; each on a database of its own."""

from collections.abc import Iterator
from dataclasses import dataclass

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
HOLD = (
    "ledger_hold(text,integer,numeric,timestamp with time zone,text,text,text,text,text,text,text,"
    "integer,numeric,numeric,boolean)"
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


def hold_key_columns(url: str) -> list[str]:
    """The columns of `uq_token_holds_key`, in order."""
    with psycopg.connect(to_libpq_url(url)) as conn:
        return [str(name) for (name,) in conn.execute(UNIQUE_KEY_COLUMNS)]


@dataclass(frozen=True)
class Schema:
    functions: dict[str, str]
    hold_key: list[str]


def round_trip(url: str, low: str, high: str) -> tuple[Schema, Schema, Schema]:
    """The schema at `low`, at `high`, and at `low` again after coming down."""
    config = alembic_config(url, Settings(_env_file=None))
    at: list[Schema] = []
    for step, revision in ((command.upgrade, low), (command.upgrade, high),
                           (command.downgrade, low)):  # fmt: skip
        step(config, revision)
        at.append(Schema(functions(url), hold_key_columns(url)))
    return at[0], at[1], at[2]


def names(defined: dict[str, str]) -> set[str]:
    return {signature.split("(")[0] for signature in defined}


def changed(before: Schema, after: Schema) -> set[str]:
    """The functions of `before` that `after` defines otherwise (or not at all)."""
    return {
        name for name in before.functions if after.functions.get(name) != before.functions[name]
    }


def test_0024_to_0026_come_down_to_0023s_functions_exactly_and_go_up_again(database: str) -> None:
    at_0023, at_0026, back_at_0023 = round_trip(database, "0023", "0026")
    command.upgrade(alembic_config(database, Settings(_env_file=None)), "0026")

    assert ADDED <= names(at_0026.functions) and not ADDED & names(at_0023.functions)
    assert changed(at_0023, at_0026), "0024-0026 re-create some of 0023's functions"
    assert back_at_0023 == at_0023
    assert functions(database) == at_0026.functions


def test_0027_changes_only_the_run_settlement_update_and_comes_down_exactly(database: str) -> None:
    at_0026, at_0027, back_at_0026 = round_trip(database, "0026", "0027")

    assert changed(at_0026, at_0027) == {HOLD_OPS_RUN}
    assert at_0027.functions.keys() == at_0026.functions.keys()
    assert "h.id = ANY (s_hold)" in at_0027.functions[HOLD_OPS_RUN]
    assert "h.id = ANY (s_hold)" not in at_0026.functions[HOLD_OPS_RUN]
    assert back_at_0026 == at_0026


def test_0029_reorders_the_hold_key_and_settles_one_by_one_and_comes_down_exactly(
    database: str,
) -> None:
    at_0028, at_0029, back_at_0028 = round_trip(database, "0028", "0029")

    assert changed(at_0028, at_0029) == {HOLD_OPS_RUN}
    assert "h.id = s_hold[v_j]" in at_0029.functions[HOLD_OPS_RUN]
    assert "h.id = ANY (s_hold)" not in at_0029.functions[HOLD_OPS_RUN]
    assert at_0028.hold_key == ["organization_id", "idempotency_key"]
    assert at_0029.hold_key == ["idempotency_key", "organization_id"]
    assert back_at_0028 == at_0028


def test_0030_looks_hold_keys_up_dynamically_and_comes_down_exactly(database: str) -> None:
    at_0029, at_0030, back_at_0029 = round_trip(database, "0029", "0030")

    assert changed(at_0029, at_0030) == {HOLD_OPS_RUN, HOLD}
    assert "USING p_organization_id, p_keys[v_i]" in at_0030.functions[HOLD_OPS_RUN]
    assert "h.idempotency_key = p_keys[v_i]" in at_0029.functions[HOLD_OPS_RUN]
    assert "h.idempotency_key = p_keys[v_i]" not in at_0030.functions[HOLD_OPS_RUN]
    assert at_0030.functions[HOLD].count("USING p_organization_id, p_key;") == 2
    assert "h.idempotency_key = p_key;" in at_0029.functions[HOLD]
    assert "h.idempotency_key = p_key;" not in at_0030.functions[HOLD]
    assert at_0030.hold_key == at_0029.hold_key
    assert back_at_0029 == at_0029
