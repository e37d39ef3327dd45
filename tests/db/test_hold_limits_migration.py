"""Migration 0022 gives holds their API key and settlements their limit columns, and takes them
away again (0019's functions back), on a database of its own."""

from collections.abc import Iterator

import psycopg
import pytest
from alembic import command

from db.migrate import alembic_config
from tokenbill.devstack.databases import drop_database, recreate_database
from tokenbill.settings import Settings, to_libpq_url

DATABASE = "tokenbill_hold_limits_migration_test"
COLUMN = (
    "SELECT count(*) FROM information_schema.columns "
    "WHERE table_name = 'token_holds' AND column_name = 'api_key_id'"
)
SIGNATURES = (
    "SELECT proname, pg_get_function_arguments(oid) LIKE '%%p_api_key_id%%', "
    "pg_get_function_result(oid) LIKE '%%limit_resets_at%%' FROM pg_proc "
    "WHERE proname IN ('ledger_hold', 'ledger_hold_settle', 'ledger_hold_capture_batch') "
    "ORDER BY proname"
)


@pytest.fixture
def database(database_url: str) -> Iterator[str]:
    url = recreate_database(database_url, DATABASE)
    yield url
    drop_database(database_url, DATABASE)


def schema(url: str) -> tuple[int, list[tuple[str, bool, bool]]]:
    with psycopg.connect(to_libpq_url(url)) as conn:
        row = conn.execute(COLUMN).fetchone()
        assert row is not None
        functions = [(str(r[0]), bool(r[1]), bool(r[2])) for r in conn.execute(SIGNATURES)]
    return int(str(row[0])), functions


def test_migration_adds_and_removes_the_holds_api_key_and_limit_answers(database: str) -> None:
    config = alembic_config(database, Settings(_env_file=None))
    command.upgrade(config, "0022")
    added = schema(database)
    command.downgrade(config, "0021")
    removed = schema(database)
    command.upgrade(config, "0022")

    assert added == (
        1,
        [("ledger_hold", True, False), ("ledger_hold_capture_batch", False, True),
         ("ledger_hold_settle", False, True)],
    )  # fmt: skip
    assert removed == (
        0,
        [("ledger_hold", False, False), ("ledger_hold_capture_batch", False, False),
         ("ledger_hold_settle", False, False)],
    )  # fmt: skip
    assert schema(database) == added
