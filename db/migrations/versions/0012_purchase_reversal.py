"""Refund reversals take the purchase's own lot; purchases needing finance are flagged (issue 9)

`ledger_reverse_lot` takes what is left of the lot a credit created (found by the credit's key)
and posts it to system:reversal, from that lot alone, so a refund never draws other purchases'
tokens. It locks the wallet row first, as every movement does, and its key makes a second run a
replay. `token_purchases.review_reason` says why finance must settle a purchase by hand (a refund
the processor refused, tokens spent before they could be taken back).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEDGER_REVERSE_LOT = """
CREATE FUNCTION ledger_reverse_lot(p_key text, p_credit_key text, p_description text,
                                   p_reference text)
RETURNS TABLE (
  transaction_id bigint, kind text, wallet_id integer, amount numeric, balance_after numeric,
  created_at timestamptz, replayed boolean
) LANGUAGE plpgsql AS $$
DECLARE
  v_wallet integer;
  v_lot bigint;
  v_remaining numeric;
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
    RETURN;  -- nothing was credited: nothing to take back
  END IF;
  -- Wallet row first, like every other movement: the lot cannot change while we hold it.
  PERFORM 1 FROM organization_token_wallets w WHERE w.id = v_wallet FOR UPDATE;

  RETURN QUERY
    SELECT t.id, t.kind::text, t.wallet_id, t.amount, h.balance_after, t.created_at, true
    FROM ledger_transactions t JOIN token_balance_history h ON h.transaction_id = t.id
    WHERE t.idempotency_key = p_key;
  IF FOUND THEN
    RETURN;
  END IF;

  SELECT l.remaining_amount INTO v_remaining FROM token_lots l WHERE l.id = v_lot;
  IF v_remaining = 0 THEN
    RETURN;  -- spent or expired in full: nothing left to take
  END IF;

  INSERT INTO ledger_transactions AS t (idempotency_key, kind, wallet_id, amount, description,
                                        reference)
  VALUES (p_key, 'reversal', v_wallet, v_remaining, p_description, p_reference)
  RETURNING t.id, t.created_at INTO v_id, v_created;

  UPDATE organization_token_wallets w
     SET current_balance = w.current_balance - v_remaining, updated_at = now()
   WHERE w.id = v_wallet
  RETURNING w.current_balance, w.organization_id, w.ledger_account_id
    INTO v_balance, v_org, v_account;

  INSERT INTO ledger_entries (transaction_id, account_id, amount)
  SELECT v_id, v_account, -v_remaining
  UNION ALL
  SELECT v_id, a.id, v_remaining FROM ledger_accounts a WHERE a.code = 'system:reversal';

  UPDATE token_lots l SET remaining_amount = 0 WHERE l.id = v_lot;

  INSERT INTO token_balance_history (wallet_id, organization_id, transaction_id, change_type,
                                     change_amount, balance_before, balance_after, description,
                                     reference)
  VALUES (v_wallet, v_org, v_id, 'reversal', -v_remaining, v_balance + v_remaining, v_balance,
          p_description, p_reference);

  RETURN QUERY SELECT v_id, 'reversal'::text, v_wallet, v_remaining, v_balance, v_created, false;
END $$
"""


def upgrade() -> None:
    op.add_column("token_purchases", sa.Column("review_reason", sa.Text(), nullable=True))
    op.add_column(
        "token_purchases",
        sa.Column("review_requested_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "idx_token_purchases_review",
        "token_purchases",
        ["review_requested_at"],
        postgresql_where=sa.text("review_reason IS NOT NULL"),
    )
    op.execute(LEDGER_REVERSE_LOT)


def downgrade() -> None:
    op.execute("DROP FUNCTION ledger_reverse_lot(text, text, text, text)")
    op.drop_index("idx_token_purchases_review", table_name="token_purchases")
    op.drop_column("token_purchases", "review_requested_at")
    op.drop_column("token_purchases", "review_reason")
