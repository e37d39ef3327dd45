"""subscription billing (issue 3): the workflow's mirror columns on token_subscriptions

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 00:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = "status IN ('active', 'past_due', 'paused', 'suspended', 'cancelled')"


def upgrade() -> None:
    add = op.add_column
    table = "token_subscriptions"
    add(table, sa.Column("billing_anchor", sa.DateTime(timezone=True), nullable=True))
    add(table, sa.Column("billing_cycle", sa.Integer(), server_default="0", nullable=False))
    add(table, sa.Column("next_package_id", sa.Integer(), nullable=True))
    add(
        table,
        sa.Column(
            "cancel_at_period_end", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
    )
    add(table, sa.Column("dunning_attempt", sa.Integer(), server_default="0", nullable=False))
    add(table, sa.Column("last_payment_error", sa.Text(), nullable=True))
    add(table, sa.Column("grace_period_ends_at", sa.DateTime(timezone=True), nullable=True))
    add(table, sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True))
    add(table, sa.Column("created_by_user_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        "fk_subscriptions_next_package", table, "token_packages", ["next_package_id"], ["id"]
    )
    op.create_foreign_key(
        "fk_subscriptions_created_by", table, "users", ["created_by_user_id"], ["id"]
    )
    op.create_check_constraint("ck_subscription_status", table, STATUSES)
    # Each paid period is a token_purchases row and an invoice linked by subscription_id.
    op.create_index("idx_token_purchases_subscription", "token_purchases", ["subscription_id"])
    op.create_index("idx_invoices_subscription", "invoices", ["subscription_id"])


def downgrade() -> None:
    table = "token_subscriptions"
    op.drop_index("idx_invoices_subscription", table_name="invoices")
    op.drop_index("idx_token_purchases_subscription", table_name="token_purchases")
    op.drop_constraint("ck_subscription_status", table, type_="check")
    op.drop_constraint("fk_subscriptions_created_by", table, type_="foreignkey")
    op.drop_constraint("fk_subscriptions_next_package", table, type_="foreignkey")
    for column in (
        "created_by_user_id", "suspended_at", "grace_period_ends_at", "last_payment_error",
        "dunning_attempt", "cancel_at_period_end", "next_package_id", "billing_cycle",
        "billing_anchor",
    ):  # fmt: skip
        op.drop_column(table, column)
