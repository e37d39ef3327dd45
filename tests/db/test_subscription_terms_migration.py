"""Migration 0013 fills the agreed terms a subscription row still lacks, then requires them, on
a database of its own."""

from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pytest
from alembic import command

from db.migrate import alembic_config
from tokenbill.devstack.databases import drop_database, recreate_database
from tokenbill.settings import Settings, to_libpq_url

DATABASE = "tokenbill_subscription_terms_migration_test"


@pytest.fixture
def old_database(database_url: str) -> Iterator[str]:
    url = recreate_database(database_url, DATABASE)
    yield url
    drop_database(database_url, DATABASE)


def test_subscription_without_stored_terms_takes_its_package_terms_and_then_requires_them(
    old_database: str,
) -> None:
    settings = Settings(_env_file=None, jwt_secret="migration-test-secret-of-32-bytes-or-more")
    config = alembic_config(old_database, settings)
    command.upgrade(config, "0012")
    with psycopg.connect(to_libpq_url(old_database), autocommit=True) as conn:
        insert = (
            "WITH o AS (INSERT INTO organizations (name) VALUES ('Before') RETURNING id), "
            "a AS (INSERT INTO ledger_accounts (code, kind, description) "
            "VALUES ('wallet:migration', 'wallet', 'Before') RETURNING id), "
            "w AS (INSERT INTO organization_token_wallets (organization_id, ledger_account_id) "
            "SELECT o.id, a.id FROM o, a RETURNING id, organization_id), "
            "p AS (INSERT INTO token_packages (name, token_quantity, price_per_token, currency) "
            "VALUES ('Old Pack', 500, 0.50, 'USD') RETURNING id) "
            "INSERT INTO token_subscriptions (organization_id, wallet_id, package_id, "
            "payment_method) SELECT w.organization_id, w.id, p.id, 'pm_card_ok' FROM w, p"
        )
        conn.execute(insert)

    command.upgrade(config, "0013")

    with psycopg.connect(to_libpq_url(old_database)) as conn:
        row = conn.execute(
            "SELECT token_quantity, price_per_token, currency FROM token_subscriptions"
        ).fetchone()
        assert row == (Decimal("500.0000"), Decimal("0.500000"), "USD")
        with pytest.raises(psycopg.errors.NotNullViolation):
            conn.execute("UPDATE token_subscriptions SET price_per_token = NULL")
    command.downgrade(config, "0012")
