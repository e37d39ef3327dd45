"""Stripe (PAYMENT_GATEWAY=stripe): each organisation's Customer, created once and kept here, and
the payments waiting for the customer to act (3-D Secure) with the workflow that waits for them.

stripe_customers is keyed by the organisation (one Customer each), the customer id unique within
it, the saved card for off-session charges beside it. stripe_payment_actions is keyed by
(organization_id, payment_intent_id).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stripe_customers",
        sa.Column(
            "organization_id", sa.Integer, sa.ForeignKey("organizations.id"), primary_key=True
        ),
        sa.Column("customer_id", sa.String(255), nullable=False),
        sa.Column("default_payment_method", sa.String(255), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.UniqueConstraint("organization_id", "customer_id", name="uq_stripe_customers_customer"),
    )
    op.create_table(
        "stripe_payment_actions",
        sa.Column("organization_id", sa.Integer, sa.ForeignKey("organizations.id"), nullable=False),
        sa.Column("payment_intent_id", sa.String(255), nullable=False),
        sa.Column("workflow_id", sa.String(128), nullable=False),
        sa.Column("reference", sa.String(128), nullable=False),
        sa.Column("client_secret", sa.Text, nullable=True),
        sa.Column("action_url", sa.Text, nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint(
            "organization_id", "payment_intent_id", name="pk_stripe_payment_actions"
        ),
    )


def downgrade() -> None:
    op.drop_table("stripe_payment_actions")
    op.drop_table("stripe_customers")
