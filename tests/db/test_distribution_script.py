"""db/distribution/citus.sql distributes the schema the migrations make (issue 17, part 2).

Citus cannot be installed here, so the script runs against the migrated database with stand-ins
for Citus's functions that take the same arguments, resolve every table (regclass) and function
signature (regprocedure) the way Citus does, and record each call: every organisation table is
distributed on organization_id with the wallets, every reviewed platform table is named once,
tables come after the tables they point at, and every distributed function exists with its
organisation argument.
"""

from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tests.db.distribution_tables import COORDINATOR_TABLES, REFERENCE_TABLES
from tests.db.test_distribution_schema import _tables, organisation_tables

SCRIPT = Path(__file__).parents[2] / "db" / "distribution" / "citus.sql"
WALLETS = "organization_token_wallets"

STAND_INS = (
    "SET LOCAL ROLE NONE",
    "CREATE SCHEMA citus_stand_in",
    "CREATE TABLE citus_stand_in.calls (position serial, call text, name text, argument text,"
    " colocate_with text)",
    """
    CREATE FUNCTION citus_stand_in.create_reference_table(table_name regclass) RETURNS void
    LANGUAGE sql AS $$
      INSERT INTO citus_stand_in.calls (call, name) VALUES ('reference', table_name::text)
    $$
    """,
    """
    CREATE FUNCTION citus_stand_in.citus_add_local_table_to_metadata(
      table_name regclass, cascade_via_foreign_keys boolean DEFAULT false
    ) RETURNS void LANGUAGE sql AS $$
      INSERT INTO citus_stand_in.calls (call, name) VALUES ('coordinator', table_name::text)
    $$
    """,
    """
    CREATE FUNCTION citus_stand_in.create_distributed_table(
      table_name regclass, distribution_column text, colocate_with text DEFAULT 'default'
    ) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = table_name
                     AND attname = distribution_column AND NOT attisdropped) THEN
        RAISE EXCEPTION '% has no column %', table_name, distribution_column;
      END IF;
      INSERT INTO citus_stand_in.calls (call, name, argument, colocate_with)
      VALUES ('distributed', table_name::text, distribution_column, colocate_with);
    END $$
    """,
    """
    CREATE FUNCTION citus_stand_in.create_distributed_function(
      function_name regprocedure, distribution_arg_name text, colocate_with text
    ) RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
      v_position integer;
      v_type oid;
    BEGIN
      SELECT array_position(p.proargnames, distribution_arg_name) INTO v_position
        FROM pg_proc p WHERE p.oid = function_name;
      IF v_position IS NULL THEN
        RAISE EXCEPTION '% has no argument %', function_name, distribution_arg_name;
      END IF;
      SELECT p.proargtypes[v_position - 1] INTO v_type FROM pg_proc p WHERE p.oid = function_name;
      INSERT INTO citus_stand_in.calls (call, name, argument, colocate_with)
      VALUES ('function', function_name::text,
              distribution_arg_name || ':' || format_type(v_type, NULL), colocate_with);
    END $$
    """,
    "SET LOCAL search_path = public, citus_stand_in",
)


async def _run_script(engine: AsyncEngine) -> list[Any]:
    """The script's calls, in order (all rolled back)."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            for statement in STAND_INS:
                await connection.execute(text(statement))
            await connection.exec_driver_sql(SCRIPT.read_text())
            return await _calls(connection)
        finally:
            await transaction.rollback()


async def _calls(connection: AsyncConnection) -> list[Any]:
    return list(
        (
            await connection.execute(text("SELECT * FROM citus_stand_in.calls ORDER BY position"))
        ).all()
    )


async def test_every_organisation_table_is_distributed_by_organisation_with_the_wallets(
    engine: AsyncEngine,
) -> None:
    calls = await _run_script(engine)
    org_tables = organisation_tables(await _tables(engine))
    distributed = [c for c in calls if c.call == "distributed"]
    names = [c.name for c in distributed]
    assert sorted(names) == sorted(org_tables)
    assert {c.argument for c in distributed} == {"organization_id"}
    assert names[0] == WALLETS
    assert {c.colocate_with for c in distributed[1:]} == {WALLETS}


async def test_every_platform_table_is_named_in_its_class(engine: AsyncEngine) -> None:
    calls = await _run_script(engine)
    assert sorted(c.name for c in calls if c.call == "reference") == sorted(REFERENCE_TABLES)
    assert sorted(c.name for c in calls if c.call == "coordinator") == sorted(COORDINATOR_TABLES)
    tables = [c.name for c in calls if c.call != "function"]
    assert len(tables) == len(set(tables)), "a table is named twice"


async def test_a_table_comes_after_the_tables_it_points_at(engine: AsyncEngine) -> None:
    calls = await _run_script(engine)
    order = {c.name: c.position for c in calls if c.call != "function"}
    async with engine.connect() as connection:
        foreign_keys = (
            await connection.execute(
                text(
                    "SELECT conrelid::regclass::text AS child, confrelid::regclass::text AS parent"
                    " FROM pg_constraint WHERE contype = 'f' AND conparentid = 0"
                    " AND connamespace = 'public'::regnamespace AND conrelid <> confrelid"
                )
            )
        ).all()
    assert foreign_keys
    late = [(k.child, k.parent) for k in foreign_keys if order[k.parent] > order[k.child]]
    assert late == []


async def test_the_spend_functions_are_distributed_on_their_organisation(
    engine: AsyncEngine,
) -> None:
    calls = await _run_script(engine)
    functions = {c.name: c for c in calls if c.call == "function"}
    assert {c.argument for c in functions.values()} == {"p_organization_id:integer"}
    assert {c.colocate_with for c in functions.values()} == {WALLETS}
    assert any(name.startswith("ledger_spend(") for name in functions)
    # Every function that takes one organisation is distributed on it.
    async with engine.connect() as connection:
        taking_one = {
            row[0]
            for row in (
                await connection.execute(
                    text(
                        "SELECT p.oid::regprocedure::text FROM pg_proc p"
                        " WHERE p.pronamespace = 'public'::regnamespace"
                        " AND 'p_organization_id' = ANY (p.proargnames)"
                    )
                )
            ).all()
        }
    assert taking_one == set(functions)
