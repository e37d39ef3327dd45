"""every subscription holds the terms it agreed (issue 10)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 19:30:00

Every writer of token_subscriptions now stores the agreed token_quantity, price_per_token and
currency (the API at creation, the workflow's sync at every change), so they become NOT NULL. A
row that still has none (written between 0011 and its writers) takes its package's current terms
first, as 0011's backfill did. The next_* terms stay nullable: null means no package change waits.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TERMS = ("token_quantity", "price_per_token", "currency")


def upgrade() -> None:
    op.execute(
        "UPDATE token_subscriptions s SET "
        "token_quantity = coalesce(s.token_quantity, p.token_quantity), "
        "price_per_token = coalesce(s.price_per_token, p.price_per_token), "
        "currency = coalesce(s.currency, p.currency) "
        "FROM token_packages p WHERE p.id = s.package_id AND (s.token_quantity IS NULL "
        "OR s.price_per_token IS NULL OR s.currency IS NULL)"
    )
    for name in TERMS:
        op.alter_column("token_subscriptions", name, nullable=False)


def downgrade() -> None:
    for name in TERMS:
        op.alter_column("token_subscriptions", name, nullable=True)
