"""agreed terms on subscriptions and automatic top-up policies; idempotency-key retention (issue 10)

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-02 19:00:00

- token_subscriptions keeps the terms its subscription agreed to (token_quantity,
  price_per_token, currency) and those of a package change it asked for (next_*), so a price
  change in the catalog never reprices a running subscription, even when its run is rebuilt
  from the row. Existing rows take their package's current terms.
- auto_topup_policies keeps the terms it was set with (agreed_*): a package policy its package's
  quantity and price, a target-balance policy DEFAULT_TOKEN_PRICE; they change only when the
  customer chooses another package. Existing rows take their package's current terms (target-
  balance rows stay null and use DEFAULT_TOKEN_PRICE until they are next set).
- idempotency_records gets an index on created_at for the retention cleanup.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOKENS = sa.Numeric(precision=20, scale=4)
UNIT_PRICE = sa.Numeric(precision=18, scale=6)
SUBSCRIPTION_TERMS = ("token_quantity", "price_per_token", "currency")
POLICY_TERMS = ("agreed_token_quantity", "agreed_price_per_token", "agreed_currency")


def _terms(prefix: str) -> list[sa.Column[object]]:
    return [
        sa.Column(f"{prefix}token_quantity", TOKENS),
        sa.Column(f"{prefix}price_per_token", UNIT_PRICE),
        sa.Column(f"{prefix}currency", sa.String(3)),
    ]


def upgrade() -> None:
    for column in [*_terms(""), *_terms("next_")]:
        op.add_column("token_subscriptions", column)
    op.execute(
        "UPDATE token_subscriptions s SET token_quantity = p.token_quantity, "
        "price_per_token = p.price_per_token, currency = p.currency "
        "FROM token_packages p WHERE p.id = s.package_id"
    )
    op.execute(
        "UPDATE token_subscriptions s SET next_token_quantity = p.token_quantity, "
        "next_price_per_token = p.price_per_token, next_currency = p.currency "
        "FROM token_packages p WHERE p.id = s.next_package_id"
    )
    for column in _terms("agreed_"):
        op.add_column("auto_topup_policies", column)
    op.execute(
        "UPDATE auto_topup_policies a SET agreed_token_quantity = p.token_quantity, "
        "agreed_price_per_token = p.price_per_token, agreed_currency = p.currency "
        "FROM token_packages p WHERE p.id = a.package_id"
    )
    op.create_index("idx_idempotency_created_at", "idempotency_records", ["created_at"])


def downgrade() -> None:
    op.drop_index("idx_idempotency_created_at", table_name="idempotency_records")
    for name in POLICY_TERMS:
        op.drop_column("auto_topup_policies", name)
    for name in (*SUBSCRIPTION_TERMS, *(f"next_{n}" for n in SUBSCRIPTION_TERMS)):
        op.drop_column("token_subscriptions", name)
