"""Migration 0015 adds the console's sign-in tables and takes them away again, on a database of
its own."""

from collections.abc import Iterator

import psycopg
import pytest
from alembic import command

from db.migrate import alembic_config
from tokenbill.devstack.databases import drop_database, recreate_database
from tokenbill.settings import Settings, to_libpq_url

DATABASE = "tokenbill_console_sign_in_migration_test"
TABLES = "SELECT table_name FROM information_schema.tables WHERE table_name = ANY(%s) ORDER BY 1"
PASSWORD_COLUMN = (
    "SELECT count(*) FROM information_schema.columns "
    "WHERE table_name = 'users' AND column_name = 'password_hash'"
)


@pytest.fixture
def database(database_url: str) -> Iterator[str]:
    url = recreate_database(database_url, DATABASE)
    yield url
    drop_database(database_url, DATABASE)


def schema(url: str) -> tuple[list[str], int]:
    with psycopg.connect(to_libpq_url(url)) as conn:
        tables = [
            row[0]
            for row in conn.execute(TABLES, (["console_sessions", "sign_in_attempts"],)).fetchall()
        ]
        found = conn.execute(PASSWORD_COLUMN).fetchone()
    assert found is not None
    return tables, int(found[0])


def test_migration_adds_and_removes_the_sign_in_tables(database: str) -> None:
    config = alembic_config(database, Settings(_env_file=None))
    command.upgrade(config, "0015")
    assert schema(database) == (["console_sessions", "sign_in_attempts"], 1)
    command.downgrade(config, "0014")
    assert schema(database) == ([], 0)
    command.upgrade(config, "0015")
    assert schema(database) == (["console_sessions", "sign_in_attempts"], 1)
