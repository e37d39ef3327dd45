"""Migration 0020 adds the spend limit tables and functions and takes them away again, on a
database of its own."""

from collections.abc import Iterator

import psycopg
import pytest
from alembic import command

from db.migrate import alembic_config
from tokenbill.devstack.databases import drop_database, recreate_database
from tokenbill.settings import Settings, to_libpq_url

DATABASE = "tokenbill_spend_limits_migration_test"
TABLES = "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'spend_limit%%'"
FUNCTIONS = (
    "SELECT proname FROM pg_proc WHERE proname LIKE 'spend_limit%%' "
    "OR proname LIKE 'ledger_spend%%limited'"
)


@pytest.fixture
def database(database_url: str) -> Iterator[str]:
    url = recreate_database(database_url, DATABASE)
    yield url
    drop_database(database_url, DATABASE)


def schema(url: str) -> tuple[set[str], set[str]]:
    with psycopg.connect(to_libpq_url(url)) as conn:
        tables = {str(row[0]) for row in conn.execute(TABLES).fetchall()}
        functions = {str(row[0]) for row in conn.execute(FUNCTIONS).fetchall()}
    return tables, functions


def test_migration_adds_and_removes_the_spend_limits(database: str) -> None:
    config = alembic_config(database, Settings(_env_file=None))
    command.upgrade(config, "0020")
    added = schema(database)
    command.downgrade(config, "0016")
    removed = schema(database)
    command.upgrade(config, "0020")

    assert added == (
        {"spend_limits", "spend_limit_usage"},
        {"ledger_spend_limited", "ledger_spend_batch_limited", "spend_limit_take",
         "spend_limit_check", "spend_limit_count", "spend_limit_notify",
         "spend_limit_period_start", "spend_limit_period_end"},
    )  # fmt: skip
    assert removed == (set(), set())
    assert schema(database) == added
