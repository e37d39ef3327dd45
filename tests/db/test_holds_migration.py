"""Migration 0019 adds holds (their table, the wallets' held tokens, the ledger functions) and
takes them away again, on a database of its own."""

from collections.abc import Iterator

import psycopg
import pytest
from alembic import command

from db.migrate import alembic_config
from tokenbill.devstack.databases import drop_database, recreate_database
from tokenbill.settings import Settings, to_libpq_url

DATABASE = "tokenbill_holds_migration_test"
FOUND = """
SELECT (SELECT count(*) FROM information_schema.tables WHERE table_name = 'token_holds'),
       (SELECT count(*) FROM information_schema.columns
         WHERE table_name = 'organization_token_wallets' AND column_name = 'held_balance'),
       (SELECT count(*) FROM pg_proc WHERE proname LIKE 'ledger_hold%')
"""


@pytest.fixture
def database(database_url: str) -> Iterator[str]:
    url = recreate_database(database_url, DATABASE)
    yield url
    drop_database(database_url, DATABASE)


def schema(url: str) -> tuple[int, ...]:
    with psycopg.connect(to_libpq_url(url)) as conn:
        found = conn.execute(FOUND).fetchone()
    assert found is not None
    return tuple(int(value) for value in found)


def test_migration_adds_and_removes_holds(database: str) -> None:
    config = alembic_config(database, Settings(_env_file=None))
    command.upgrade(config, "0019")
    assert schema(database) == (1, 1, 4)
    command.downgrade(config, "0016")
    assert schema(database) == (0, 0, 0)
    command.upgrade(config, "0019")
    assert schema(database) == (1, 1, 4)
