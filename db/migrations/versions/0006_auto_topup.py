"""webhooks and automatic top-up (issue 4)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 00:40:00
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOKENS = sa.Numeric(precision=20, scale=4)
MONEY = sa.Numeric(precision=18, scale=2)
POLICY_COLUMNS = (
    "target_balance",
    "schedule_interval",
    "schedule_anchor",
    "max_topups_per_day",
    "max_monthly_spend",
    "cooldown",
    "status",
    "suspended_reason",
    "suspended_at",
    "consecutive_failures",
    "last_topup_at",
)


def _created_at() -> sa.Column[datetime]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def _upgrade_policies() -> None:
    op.add_column("auto_topup_policies", sa.Column("target_balance", TOKENS, nullable=True))
    op.add_column(
        "auto_topup_policies", sa.Column("schedule_interval", sa.String(length=32), nullable=True)
    )
    op.add_column(
        "auto_topup_policies",
        sa.Column("schedule_anchor", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column("auto_topup_policies", sa.Column("max_topups_per_day", sa.Integer()))
    op.add_column("auto_topup_policies", sa.Column("max_monthly_spend", MONEY, nullable=True))
    op.add_column(
        "auto_topup_policies",
        sa.Column("cooldown", sa.Interval(), server_default=sa.text("'0 seconds'"), nullable=False),
    )
    op.add_column(
        "auto_topup_policies",
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
    )
    op.add_column("auto_topup_policies", sa.Column("suspended_reason", sa.Text()))
    op.add_column("auto_topup_policies", sa.Column("suspended_at", sa.DateTime(timezone=True)))
    op.add_column(
        "auto_topup_policies",
        sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column("auto_topup_policies", sa.Column("last_topup_at", sa.DateTime(timezone=True)))
    op.create_check_constraint(
        "ck_auto_topup_status", "auto_topup_policies", "status IN ('active', 'suspended')"
    )
    op.create_check_constraint(
        "ck_auto_topup_has_trigger",
        "auto_topup_policies",
        "threshold IS NOT NULL OR schedule_interval IS NOT NULL",
    )
    op.create_check_constraint(
        "ck_auto_topup_one_amount",
        "auto_topup_policies",
        "(package_id IS NULL) <> (target_balance IS NULL)",
    )


def _create_webhook_tables() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "organization_id", sa.Integer(), sa.ForeignKey("organizations.id"), nullable=False
        ),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column(
            "event_types",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("description", sa.Text()),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        _created_at(),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )
    op.create_index("idx_webhook_endpoints_org", "webhook_endpoints", ["organization_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column(
            "endpoint_id", sa.Integer(), sa.ForeignKey("webhook_endpoints.id"), nullable=False
        ),
        sa.Column(
            "event_id", sa.BigInteger(), sa.ForeignKey("notification_events.id"), nullable=False
        ),
        sa.Column(
            "organization_id", sa.Integer(), sa.ForeignKey("organizations.id"), nullable=False
        ),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_status_code", sa.Integer()),
        sa.Column("last_error", sa.Text()),
        _created_at(),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_delivery_endpoint_event"),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed')", name="ck_webhook_delivery_status"
        ),
    )
    op.create_index(
        "idx_webhook_deliveries_endpoint_created",
        "webhook_deliveries",
        ["endpoint_id", sa.text("created_at DESC")],
    )
    op.create_index(
        "idx_webhook_deliveries_pending",
        "webhook_deliveries",
        ["created_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "webhook_delivery_attempts",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column(
            "delivery_id",
            sa.BigInteger(),
            sa.ForeignKey("webhook_deliveries.id"),
            nullable=False,
        ),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer()),
        sa.Column("error", sa.Text()),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        _created_at(),
    )
    op.create_index(
        "idx_webhook_attempts_delivery", "webhook_delivery_attempts", ["delivery_id", "id"]
    )


def _create_auto_topups() -> None:
    op.create_table(
        "auto_topups",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False, unique=True),
        sa.Column(
            "wallet_id",
            sa.Integer(),
            sa.ForeignKey("organization_token_wallets.id"),
            nullable=False,
        ),
        sa.Column(
            "organization_id", sa.Integer(), sa.ForeignKey("organizations.id"), nullable=False
        ),
        sa.Column("trigger_kind", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("purchase_reference_id", sa.String(length=64)),
        _created_at(),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint(
            "outcome IN ('purchasing', 'succeeded', 'failed', 'skipped')",
            name="ck_auto_topup_outcome",
        ),
    )
    op.create_index(
        "idx_auto_topups_wallet_created", "auto_topups", ["wallet_id", sa.text("created_at DESC")]
    )
    # The relay claims dispatched events left stale again.
    op.create_index(
        "idx_notification_events_dispatched",
        "notification_events",
        ["dispatched_at"],
        postgresql_where=sa.text("status = 'dispatched'"),
    )
    # The auto top-up purchases of a wallet: in flight, and counted against the caps.
    op.create_index(
        "idx_token_purchases_auto_topup",
        "token_purchases",
        ["wallet_id", "created_at"],
        postgresql_where=sa.text("purchase_type = 'auto_topup'"),
    )


# A suspended policy waits for its owner: spends that cross its threshold record no trigger.
TOPUP_THRESHOLD_OF_ACTIVE_POLICY = """
CREATE OR REPLACE FUNCTION ledger_topup_threshold(p_wallet_id integer, p_enabled boolean)
RETURNS numeric LANGUAGE sql STABLE AS $$
  SELECT p.threshold FROM auto_topup_policies p
   WHERE p_enabled AND p.wallet_id = p_wallet_id AND p.enabled AND p.status = 'active'
     AND p.threshold IS NOT NULL
$$
"""
TOPUP_THRESHOLD_ANY_STATUS = """
CREATE OR REPLACE FUNCTION ledger_topup_threshold(p_wallet_id integer, p_enabled boolean)
RETURNS numeric LANGUAGE sql STABLE AS $$
  SELECT p.threshold FROM auto_topup_policies p
   WHERE p_enabled AND p.wallet_id = p_wallet_id AND p.enabled AND p.threshold IS NOT NULL
$$
"""


def upgrade() -> None:
    _upgrade_policies()
    _create_webhook_tables()
    _create_auto_topups()
    op.execute(TOPUP_THRESHOLD_OF_ACTIVE_POLICY)


def downgrade() -> None:
    op.execute(TOPUP_THRESHOLD_ANY_STATUS)
    op.drop_index("idx_token_purchases_auto_topup", table_name="token_purchases")
    op.drop_index("idx_notification_events_dispatched", table_name="notification_events")
    op.drop_index("idx_auto_topups_wallet_created", table_name="auto_topups")
    op.drop_table("auto_topups")
    op.drop_index("idx_webhook_attempts_delivery", table_name="webhook_delivery_attempts")
    op.drop_table("webhook_delivery_attempts")
    op.drop_index("idx_webhook_deliveries_pending", table_name="webhook_deliveries")
    op.drop_index("idx_webhook_deliveries_endpoint_created", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index("idx_webhook_endpoints_org", table_name="webhook_endpoints")
    op.drop_table("webhook_endpoints")
    for constraint in ("ck_auto_topup_one_amount", "ck_auto_topup_has_trigger",
                       "ck_auto_topup_status"):  # fmt: skip
        op.drop_constraint(constraint, "auto_topup_policies", type_="check")
    for column in reversed(POLICY_COLUMNS):
        op.drop_column("auto_topup_policies", column)
