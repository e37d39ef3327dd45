"""jobs, expiry, reconciliation and forecasts (issue 5)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 00:45:00

`ledger_expire_lot` expires exactly one lot's unspent remainder: it locks the wallet row first (as
every movement does, so no spend changes the lot meanwhile), reads that lot's remainder and posts
it to system:expiry, taking it from that lot alone. The key makes a second run a replay.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEDGER_EXPIRE_LOT = """
CREATE FUNCTION ledger_expire_lot(p_key text, p_lot_id bigint, p_description text)
RETURNS TABLE (
  transaction_id bigint, kind text, wallet_id integer, amount numeric, balance_after numeric,
  created_at timestamptz, replayed boolean
) LANGUAGE plpgsql AS $$
DECLARE
  v_wallet integer;
  v_remaining numeric;
  v_id bigint;
  v_created timestamptz;
  v_balance numeric;
  v_org integer;
  v_account integer;
BEGIN
  SELECT l.wallet_id INTO v_wallet FROM token_lots l WHERE l.id = p_lot_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'lot % does not exist', p_lot_id USING ERRCODE = 'TB003';
  END IF;
  -- Wallet row first, like ledger_post and ledger_spend: the lot cannot change while we hold it.
  PERFORM 1 FROM organization_token_wallets w WHERE w.id = v_wallet FOR UPDATE;

  RETURN QUERY
    SELECT t.id, t.kind::text, t.wallet_id, t.amount, h.balance_after, t.created_at, true
    FROM ledger_transactions t JOIN token_balance_history h ON h.transaction_id = t.id
    WHERE t.idempotency_key = p_key;
  IF FOUND THEN
    RETURN;
  END IF;

  SELECT l.remaining_amount INTO v_remaining FROM token_lots l WHERE l.id = p_lot_id;
  IF v_remaining = 0 THEN
    RETURN;  -- spent in full before it expired: nothing to post
  END IF;

  INSERT INTO ledger_transactions AS t (idempotency_key, kind, wallet_id, amount, description,
                                        reference)
  VALUES (p_key, 'expiry', v_wallet, v_remaining, p_description, 'lot:' || p_lot_id)
  RETURNING t.id, t.created_at INTO v_id, v_created;

  UPDATE organization_token_wallets w
     SET current_balance = w.current_balance - v_remaining, updated_at = now()
   WHERE w.id = v_wallet
  RETURNING w.current_balance, w.organization_id, w.ledger_account_id
    INTO v_balance, v_org, v_account;

  INSERT INTO ledger_entries (transaction_id, account_id, amount)
  SELECT v_id, v_account, -v_remaining
  UNION ALL
  SELECT v_id, a.id, v_remaining FROM ledger_accounts a WHERE a.code = 'system:expiry';

  UPDATE token_lots l SET remaining_amount = 0 WHERE l.id = p_lot_id;

  INSERT INTO token_balance_history (wallet_id, organization_id, transaction_id, change_type,
                                     change_amount, balance_before, balance_after, description,
                                     reference)
  VALUES (v_wallet, v_org, v_id, 'expiry', -v_remaining, v_balance + v_remaining, v_balance,
          p_description, 'lot:' || p_lot_id);

  RETURN QUERY SELECT v_id, 'expiry'::text, v_wallet, v_remaining, v_balance, v_created, false;
END $$
"""


def _created_at() -> sa.Column[object]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("job_name", sa.String(64), nullable=False),
        sa.Column("workflow_id", sa.String(255), nullable=False, unique=True),
        sa.Column("status", sa.String(16), server_default="running", nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("seen", sa.Integer(), server_default="0", nullable=False),
        sa.Column("changed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failed", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "details", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("error", sa.Text()),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed')", name="ck_job_run_status"
        ),
    )
    op.create_index(
        "idx_job_runs_name_started", "job_runs", ["job_name", sa.text("started_at DESC")]
    )

    op.create_table(
        "reconciliation_runs",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("workflow_id", sa.String(255), nullable=False, unique=True),
        sa.Column("status", sa.String(16), server_default="running", nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("wallets_checked", sa.Integer(), server_default="0", nullable=False),
        sa.Column("transactions_checked", sa.Integer(), server_default="0", nullable=False),
        sa.Column("mismatch_count", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "status IN ('running', 'clean', 'mismatches')", name="ck_reconciliation_run_status"
        ),
    )
    op.create_index(
        "idx_reconciliation_runs_started", "reconciliation_runs", [sa.text("started_at DESC")]
    )
    op.create_table(
        "reconciliation_mismatches",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column(
            "run_id", sa.BigInteger(), sa.ForeignKey("reconciliation_runs.id"), nullable=False
        ),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("wallet_id", sa.Integer(), sa.ForeignKey("organization_token_wallets.id")),
        sa.Column("organization_id", sa.Integer()),
        sa.Column("transaction_id", sa.BigInteger()),
        sa.Column("expected", sa.Numeric(20, 4), nullable=False),
        sa.Column("actual", sa.Numeric(20, 4), nullable=False),
        _created_at(),
        sa.UniqueConstraint("run_id", "kind", "subject", name="uq_reconciliation_mismatch"),
        sa.CheckConstraint(
            "kind IN ('balance_vs_entries', 'balance_vs_lots', 'unbalanced_transaction')",
            name="ck_reconciliation_mismatch_kind",
        ),
    )

    op.add_column("token_usage_forecasts", sa.Column("current_balance", sa.Numeric(20, 4)))
    op.add_column("token_usage_forecasts", sa.Column("history_days", sa.Integer()))
    op.add_column("token_usage_forecasts", sa.Column("method", sa.String(32)))
    op.add_column("token_usage_forecasts", sa.Column("trend_per_day", sa.Numeric(20, 4)))
    op.add_column("token_usage_forecasts", sa.Column("weekday_factors", postgresql.JSONB()))
    op.add_column("token_usage_forecasts", sa.Column("coverage_days", sa.Integer()))
    op.add_column("token_usage_forecasts", sa.Column("projected_consumption", sa.Numeric(20, 4)))
    op.add_column("token_usage_forecasts", sa.Column("suggested_topup_amount", sa.Numeric(20, 4)))
    op.create_unique_constraint(
        "uq_usage_forecast_wallet_date", "token_usage_forecasts", ["wallet_id", "forecast_date"]
    )

    op.create_index(
        "idx_token_lots_expiring",
        "token_lots",
        ["expires_at"],
        postgresql_where=sa.text("remaining_amount > 0 AND expires_at IS NOT NULL"),
    )
    op.execute(LEDGER_EXPIRE_LOT)


def downgrade() -> None:
    op.execute("DROP FUNCTION ledger_expire_lot(text, bigint, text)")
    op.drop_index("idx_token_lots_expiring", table_name="token_lots")
    op.drop_constraint("uq_usage_forecast_wallet_date", "token_usage_forecasts")
    for column in (
        "suggested_topup_amount",
        "projected_consumption",
        "coverage_days",
        "weekday_factors",
        "trend_per_day",
        "method",
        "history_days",
        "current_balance",
    ):
        op.drop_column("token_usage_forecasts", column)
    op.drop_table("reconciliation_mismatches")
    op.drop_table("reconciliation_runs")
    op.drop_table("job_runs")
