"""Stripe's events, disputes and saved payment methods (issue 14)

`stripe_events` records each webhook event once, by Stripe's event id, with what was done about
it. `token_disputes` holds a dispute opened on a purchase's charge until an admin decides it; the
disputed tokens move by ledger transactions only: `ledger_dispute_freeze` takes them from the
purchase's own lot to system:dispute_frozen (the wallet's spendable balance drops by exactly
them), `ledger_dispute_release` gives them back to that lot, `ledger_dispute_forfeit` books them
from system:dispute_frozen to system:dispute_loss. `stripe_payment_methods` shows the card an
organisation saved for off-session charges (brand, last four, expiry; never the card itself);
the card's id is stripe_customers.default_payment_method (migration 0017).
reconciliation_mismatches takes the provider reconciliation's three kinds.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "tokenbill_app"

LEDGER_DISPUTE_FREEZE = """
CREATE FUNCTION ledger_dispute_freeze(p_key text, p_credit_key text, p_amount numeric,
                                      p_description text, p_reference text)
RETURNS TABLE (
  transaction_id bigint, kind text, wallet_id integer, amount numeric, balance_after numeric,
  created_at timestamptz, replayed boolean
) LANGUAGE plpgsql AS $$
DECLARE
  v_wallet integer;
  v_lot bigint;
  v_take numeric;
  v_id bigint;
  v_created timestamptz;
  v_balance numeric;
  v_org integer;
  v_account integer;
BEGIN
  SELECT l.wallet_id, l.id INTO v_wallet, v_lot
    FROM ledger_transactions c JOIN token_lots l ON l.transaction_id = c.id
   WHERE c.idempotency_key = p_credit_key;
  IF NOT FOUND THEN
    RETURN;  -- nothing was credited: nothing to freeze
  END IF;
  PERFORM 1 FROM organization_token_wallets w WHERE w.id = v_wallet FOR UPDATE;

  RETURN QUERY
    SELECT t.id, t.kind::text, t.wallet_id, t.amount, h.balance_after, t.created_at, true
    FROM ledger_transactions t JOIN token_balance_history h ON h.transaction_id = t.id
    WHERE t.idempotency_key = p_key;
  IF FOUND THEN
    RETURN;
  END IF;

  -- The disputed tokens of this purchase, as far as they are still in its lot.
  SELECT LEAST(l.remaining_amount, p_amount) INTO v_take FROM token_lots l WHERE l.id = v_lot;
  IF v_take = 0 THEN
    RETURN;
  END IF;

  INSERT INTO ledger_transactions AS t (idempotency_key, kind, wallet_id, amount, description,
                                        reference)
  VALUES (p_key, 'dispute_freeze', v_wallet, v_take, p_description, p_reference)
  RETURNING t.id, t.created_at INTO v_id, v_created;

  UPDATE organization_token_wallets w
     SET current_balance = w.current_balance - v_take, updated_at = now()
   WHERE w.id = v_wallet
  RETURNING w.current_balance, w.organization_id, w.ledger_account_id
    INTO v_balance, v_org, v_account;

  INSERT INTO ledger_entries (transaction_id, account_id, amount)
  SELECT v_id, v_account, -v_take
  UNION ALL
  SELECT v_id, a.id, v_take FROM ledger_accounts a WHERE a.code = 'system:dispute_frozen';

  UPDATE token_lots l SET remaining_amount = l.remaining_amount - v_take WHERE l.id = v_lot;

  INSERT INTO token_balance_history (wallet_id, organization_id, transaction_id, change_type,
                                     change_amount, balance_before, balance_after, description,
                                     reference)
  VALUES (v_wallet, v_org, v_id, 'dispute_freeze', -v_take, v_balance + v_take, v_balance,
          p_description, p_reference);

  RETURN QUERY SELECT v_id, 'dispute_freeze'::text, v_wallet, v_take, v_balance, v_created, false;
END $$
"""

LEDGER_DISPUTE_RELEASE = """
CREATE FUNCTION ledger_dispute_release(p_key text, p_freeze_key text, p_credit_key text,
                                       p_description text, p_reference text)
RETURNS TABLE (
  transaction_id bigint, kind text, wallet_id integer, amount numeric, balance_after numeric,
  created_at timestamptz, replayed boolean
) LANGUAGE plpgsql AS $$
DECLARE
  v_wallet integer;
  v_amount numeric;
  v_lot bigint;
  v_id bigint;
  v_created timestamptz;
  v_balance numeric;
  v_org integer;
  v_account integer;
BEGIN
  SELECT f.wallet_id, f.amount INTO v_wallet, v_amount
    FROM ledger_transactions f WHERE f.idempotency_key = p_freeze_key;
  IF NOT FOUND THEN
    RETURN;  -- nothing was frozen: nothing to give back
  END IF;
  PERFORM 1 FROM organization_token_wallets w WHERE w.id = v_wallet FOR UPDATE;

  RETURN QUERY
    SELECT t.id, t.kind::text, t.wallet_id, t.amount, h.balance_after, t.created_at, true
    FROM ledger_transactions t JOIN token_balance_history h ON h.transaction_id = t.id
    WHERE t.idempotency_key = p_key;
  IF FOUND THEN
    RETURN;
  END IF;

  SELECT l.id INTO v_lot
    FROM ledger_transactions c JOIN token_lots l ON l.transaction_id = c.id
   WHERE c.idempotency_key = p_credit_key;

  INSERT INTO ledger_transactions AS t (idempotency_key, kind, wallet_id, amount, description,
                                        reference)
  VALUES (p_key, 'dispute_release', v_wallet, v_amount, p_description, p_reference)
  RETURNING t.id, t.created_at INTO v_id, v_created;

  UPDATE organization_token_wallets w
     SET current_balance = w.current_balance + v_amount, updated_at = now()
   WHERE w.id = v_wallet
  RETURNING w.current_balance, w.organization_id, w.ledger_account_id
    INTO v_balance, v_org, v_account;

  INSERT INTO ledger_entries (transaction_id, account_id, amount)
  SELECT v_id, v_account, v_amount
  UNION ALL
  SELECT v_id, a.id, -v_amount FROM ledger_accounts a WHERE a.code = 'system:dispute_frozen';

  -- Back into the lot they were taken from: its expiry and order stay what they were.
  UPDATE token_lots l SET remaining_amount = l.remaining_amount + v_amount WHERE l.id = v_lot;

  INSERT INTO token_balance_history (wallet_id, organization_id, transaction_id, change_type,
                                     change_amount, balance_before, balance_after, description,
                                     reference)
  VALUES (v_wallet, v_org, v_id, 'dispute_release', v_amount, v_balance - v_amount, v_balance,
          p_description, p_reference);

  RETURN QUERY SELECT v_id, 'dispute_release'::text, v_wallet, v_amount, v_balance, v_created,
                      false;
END $$
"""

LEDGER_DISPUTE_FORFEIT = """
CREATE FUNCTION ledger_dispute_forfeit(p_key text, p_freeze_key text, p_description text,
                                       p_reference text)
RETURNS TABLE (transaction_id bigint, wallet_id integer, amount numeric, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_wallet integer;
  v_amount numeric;
  v_id bigint;
BEGIN
  SELECT f.wallet_id, f.amount INTO v_wallet, v_amount
    FROM ledger_transactions f WHERE f.idempotency_key = p_freeze_key;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  PERFORM 1 FROM organization_token_wallets w WHERE w.id = v_wallet FOR UPDATE;

  RETURN QUERY SELECT t.id, t.wallet_id, t.amount, true FROM ledger_transactions t
                WHERE t.idempotency_key = p_key;
  IF FOUND THEN
    RETURN;
  END IF;

  -- The wallet does not move (the tokens left it at the freeze): system account to system
  -- account, so no balance history row.
  INSERT INTO ledger_transactions AS t (idempotency_key, kind, wallet_id, amount, description,
                                        reference)
  VALUES (p_key, 'dispute_forfeit', v_wallet, v_amount, p_description, p_reference)
  RETURNING t.id INTO v_id;

  INSERT INTO ledger_entries (transaction_id, account_id, amount)
  SELECT v_id, a.id, -v_amount FROM ledger_accounts a WHERE a.code = 'system:dispute_frozen'
  UNION ALL
  SELECT v_id, a.id, v_amount FROM ledger_accounts a WHERE a.code = 'system:dispute_loss';

  RETURN QUERY SELECT v_id, v_wallet, v_amount, false;
END $$
"""

WALLET_KINDS = "'balance_vs_entries', 'balance_vs_lots', 'unbalanced_transaction'"
PROVIDER_KINDS = (
    "'provider_missing_in_ledger', 'provider_missing_at_provider', 'provider_amount_mismatch'"
)

FUNCTIONS = {
    "ledger_dispute_freeze(text, text, numeric, text, text)": LEDGER_DISPUTE_FREEZE,
    "ledger_dispute_release(text, text, text, text, text)": LEDGER_DISPUTE_RELEASE,
    "ledger_dispute_forfeit(text, text, text, text)": LEDGER_DISPUTE_FORFEIT,
}


def upgrade() -> None:
    op.execute(
        "INSERT INTO ledger_accounts (code, kind, description) VALUES "
        "('system:dispute_frozen', 'system', 'Tokens held while their payment is disputed'), "
        "('system:dispute_loss', 'system', 'Tokens forfeited to a lost payment dispute') "
        "ON CONFLICT (code) DO NOTHING"
    )
    op.create_table(
        "stripe_events",
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column("event_type", sa.String(128), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("stripe_created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("organization_id", sa.Integer(), sa.ForeignKey("organizations.id")),
        sa.Column("object_id", sa.String(255)),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    op.create_index(
        "idx_stripe_events_type_received", "stripe_events", ["event_type", "received_at"]
    )
    op.create_table(
        "token_disputes",
        sa.Column(
            "organization_id", sa.Integer(), sa.ForeignKey("organizations.id"), nullable=False
        ),
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("stripe_dispute_id", sa.String(255), nullable=False),
        sa.Column("purchase_id", sa.Integer(), sa.ForeignKey("token_purchases.id"), nullable=False),
        sa.Column(
            "wallet_id",
            sa.Integer(),
            sa.ForeignKey("organization_token_wallets.id"),
            nullable=False,
        ),
        sa.Column("charge_reference", sa.String(255), nullable=False),
        sa.Column("amount", sa.Numeric(18, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("disputed_tokens", sa.Numeric(20, 4), nullable=False),
        sa.Column("frozen_tokens", sa.Numeric(20, 4), nullable=False),
        sa.Column("status", sa.String(16), server_default="frozen", nullable=False),
        sa.Column("decided_by_user_id", sa.Integer(), sa.ForeignKey("users.id")),
        sa.Column("decision_note", sa.Text()),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("organization_id", "id", name="pk_token_disputes"),
        sa.UniqueConstraint(
            "organization_id", "stripe_dispute_id", name="uq_token_disputes_stripe_id"
        ),
        sa.CheckConstraint(
            "status IN ('frozen', 'released', 'forfeited')", name="ck_dispute_status"
        ),
        sa.CheckConstraint(
            "frozen_tokens >= 0 AND frozen_tokens <= disputed_tokens",
            name="ck_dispute_frozen_range",
        ),
    )
    op.create_index("idx_token_disputes_stripe_id", "token_disputes", ["stripe_dispute_id"])
    op.create_index("idx_token_disputes_status", "token_disputes", ["status", "created_at"])
    op.create_table(
        "stripe_payment_methods",
        sa.Column(
            "organization_id", sa.Integer(), sa.ForeignKey("organizations.id"), nullable=False
        ),
        sa.Column("payment_method_id", sa.String(255), nullable=False),
        sa.Column("brand", sa.String(32), nullable=False),
        sa.Column("last4", sa.String(4), nullable=False),
        sa.Column("exp_month", sa.Integer(), nullable=False),
        sa.Column("exp_year", sa.Integer(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("organization_id", name="pk_stripe_payment_methods"),
    )
    # The provider reconciliation records its mismatches beside the wallet reconciliation's.
    op.drop_constraint("ck_reconciliation_mismatch_kind", "reconciliation_mismatches")
    op.create_check_constraint(
        "ck_reconciliation_mismatch_kind",
        "reconciliation_mismatches",
        f"kind IN ({WALLET_KINDS}, {PROVIDER_KINDS})",
    )
    for signature, function in FUNCTIONS.items():
        op.execute(function)
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")


def downgrade() -> None:
    for signature in FUNCTIONS:
        op.execute(f"DROP FUNCTION {signature}")
    op.execute(f"DELETE FROM reconciliation_mismatches WHERE kind IN ({PROVIDER_KINDS})")
    op.drop_constraint("ck_reconciliation_mismatch_kind", "reconciliation_mismatches")
    op.create_check_constraint(
        "ck_reconciliation_mismatch_kind", "reconciliation_mismatches", f"kind IN ({WALLET_KINDS})"
    )
    op.drop_table("stripe_payment_methods")
    op.drop_index("idx_token_disputes_status", table_name="token_disputes")
    op.drop_index("idx_token_disputes_stripe_id", table_name="token_disputes")
    op.drop_table("token_disputes")
    op.drop_index("idx_stripe_events_type_received", table_name="stripe_events")
    op.drop_table("stripe_events")
    op.execute(
        "DELETE FROM ledger_accounts WHERE code IN ('system:dispute_frozen', 'system:dispute_loss')"
    )
