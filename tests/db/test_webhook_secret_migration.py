"""Migration 0010 encrypts the signing secrets already stored, on a database of its own."""

from collections.abc import Iterator

import psycopg
import pytest
from alembic import command

from db.migrate import alembic_config
from db.webhook_secrets import SecretBox
from tokenbill.devstack.databases import drop_database, recreate_database
from tokenbill.settings import Settings, to_libpq_url

DATABASE = "tokenbill_webhook_secret_migration_test"
PLAIN_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def old_database(database_url: str) -> Iterator[str]:
    url = recreate_database(database_url, DATABASE)
    yield url
    drop_database(database_url, DATABASE)


def test_migration_encrypts_the_secrets_already_stored(old_database: str) -> None:
    settings = Settings(_env_file=None, jwt_secret="migration-test-secret-of-32-bytes-or-more")
    config = alembic_config(old_database, settings)
    command.upgrade(config, "0008")
    with psycopg.connect(to_libpq_url(old_database), autocommit=True) as conn:
        organization = conn.execute(
            "INSERT INTO organizations (name) VALUES ('Before') RETURNING id"
        ).fetchone()
        assert organization is not None
        conn.execute(
            "INSERT INTO webhook_endpoints (organization_id, url, secret) VALUES (%s, %s, %s)",
            (organization[0], "https://hooks.example.com/in", PLAIN_SECRET),
        )

    command.upgrade(config, "0010")

    with psycopg.connect(to_libpq_url(old_database)) as conn:
        row = conn.execute(
            "SELECT row_to_json(e)::text, secret_ciphertext, secret_hint FROM webhook_endpoints e"
        ).fetchone()
    assert row is not None
    whole, ciphertext, hint = row
    assert PLAIN_SECRET.removeprefix("whsec_") not in whole
    assert SecretBox(settings).decrypt(ciphertext) == PLAIN_SECRET
    assert hint == PLAIN_SECRET[-4:]
    command.downgrade(config, "0008")
    with psycopg.connect(to_libpq_url(old_database)) as conn:
        assert conn.execute("SELECT secret FROM webhook_endpoints").fetchone() == (PLAIN_SECRET,)
