"""Migration 0027 (a run settles its holds through their ids) changes one statement of
`ledger_hold_ops_run` and nothing else, and comes down to 0026's function exactly."""

from collections.abc import Iterator

import pytest
from alembic import command

from db.migrate import alembic_config
from tests.db.test_migrations_0024_to_0026_round_trip import functions
from tokenbill.devstack.databases import drop_database, recreate_database
from tokenbill.settings import Settings

DATABASE = "tokenbill_migration_0027_test"
HOLD_OPS_RUN = (
    "ledger_hold_ops_run(integer,text[],text[],numeric[],timestamp with time zone[],text[],"
    "text[],text[],integer[],bigint[],text[],text[],text[],text[],numeric,numeric,boolean)"
)


@pytest.fixture
def database(database_url: str) -> Iterator[str]:
    url = recreate_database(database_url, DATABASE)
    yield url
    drop_database(database_url, DATABASE)


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
