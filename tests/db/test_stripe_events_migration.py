"""Migration 0018 adds Stripe's events, disputes, saved cards and the dispute ledger functions
and accounts, and takes them away again, on a database of its own."""

from collections.abc import Iterator

import psycopg
import pytest
from alembic import command

from db.migrate import alembic_config
from tokenbill.devstack.databases import drop_database, recreate_database
from tokenbill.settings import Settings, to_libpq_url

DATABASE = "tokenbill_stripe_events_migration_test"
OURS = ["stripe_events", "stripe_payment_methods", "token_disputes"]
TABLES = "SELECT table_name FROM information_schema.tables WHERE table_name = ANY(%s) ORDER BY 1"
FUNCTIONS = "SELECT count(*) FROM pg_proc WHERE proname LIKE 'ledger_dispute_%%'"
ACCOUNTS = "SELECT count(*) FROM ledger_accounts WHERE code LIKE 'system:dispute_%%'"


@pytest.fixture
def database(database_url: str) -> Iterator[str]:
    url = recreate_database(database_url, DATABASE)
    yield url
    drop_database(database_url, DATABASE)


def schema(url: str) -> tuple[list[str], int, int]:
    with psycopg.connect(to_libpq_url(url)) as conn:
        tables = [row[0] for row in conn.execute(TABLES, (OURS,)).fetchall()]
        functions = conn.execute(FUNCTIONS).fetchone()
        accounts = conn.execute(ACCOUNTS).fetchone()
    assert functions is not None and accounts is not None
    return tables, int(functions[0]), int(accounts[0])


def test_migration_adds_and_removes_the_stripe_tables(database: str) -> None:
    config = alembic_config(database, Settings(_env_file=None))
    command.upgrade(config, "0018")
    assert schema(database) == (OURS, 3, 2)
    command.downgrade(config, "0017")
    assert schema(database) == ([], 0, 0)
    command.upgrade(config, "0018")
    assert schema(database) == (OURS, 3, 2)
