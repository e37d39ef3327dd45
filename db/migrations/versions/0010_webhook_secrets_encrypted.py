"""webhook signing secrets encrypted at rest, with a rotation overlap (issue 10)

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-02 19:00:00

- webhook_endpoints.secret (plain text) becomes secret_ciphertext, a Fernet token under the keys
  of db/webhook_secrets.py; existing secrets are encrypted in place. secret_hint keeps the last
  four characters the API shows.
- previous_secret_ciphertext and previous_secret_expires_at: after a rotation the old secret
  still signs until the overlap ends.

The keys come from the settings the migration runs with (db/migrate.py passes them; otherwise the
environment's), so run it with the same WEBHOOK_SECRET_KEYS and JWT_SECRET as the API and worker.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from db.webhook_secrets import SecretBox, secret_hint
from tokenbill.settings import Settings, get_settings

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _secret_box() -> SecretBox:
    settings = context.config.attributes.get("settings")
    return SecretBox(settings if isinstance(settings, Settings) else get_settings())


def upgrade() -> None:
    op.add_column("webhook_endpoints", sa.Column("secret_ciphertext", sa.Text(), nullable=True))
    op.add_column("webhook_endpoints", sa.Column("secret_hint", sa.String(8), nullable=True))
    op.add_column(
        "webhook_endpoints", sa.Column("previous_secret_ciphertext", sa.Text(), nullable=True)
    )
    op.add_column(
        "webhook_endpoints",
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    box = _secret_box()
    connection = op.get_bind()
    for endpoint_id, secret in connection.execute(
        sa.text("SELECT id, secret FROM webhook_endpoints ORDER BY id")
    ):
        connection.execute(
            sa.text(
                "UPDATE webhook_endpoints SET secret_ciphertext = :c, secret_hint = :h "
                "WHERE id = :id"
            ),
            {"c": box.encrypt(secret), "h": secret_hint(secret), "id": endpoint_id},
        )
    op.alter_column("webhook_endpoints", "secret_ciphertext", nullable=False)
    op.alter_column("webhook_endpoints", "secret_hint", nullable=False)
    op.drop_column("webhook_endpoints", "secret")


def downgrade() -> None:
    op.add_column("webhook_endpoints", sa.Column("secret", sa.String(128), nullable=True))
    box = _secret_box()
    connection = op.get_bind()
    for endpoint_id, ciphertext in connection.execute(
        sa.text("SELECT id, secret_ciphertext FROM webhook_endpoints ORDER BY id")
    ):
        connection.execute(
            sa.text("UPDATE webhook_endpoints SET secret = :s WHERE id = :id"),
            {"s": box.decrypt(ciphertext), "id": endpoint_id},
        )
    op.alter_column("webhook_endpoints", "secret", nullable=False)
    for column in (
        "previous_secret_expires_at",
        "previous_secret_ciphertext",
        "secret_hint",
        "secret_ciphertext",
    ):
        op.drop_column("webhook_endpoints", column)
