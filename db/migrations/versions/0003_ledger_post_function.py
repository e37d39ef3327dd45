"""ledger_post: a whole ledger movement in one server-side call

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 00:25:00

One round trip per movement keeps the wallet's row lock short, which is what bounds the rate of
spends on a hot wallet.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEDGER_POST = """
CREATE FUNCTION ledger_post(
  p_key text, p_kind text, p_wallet_id integer, p_delta numeric, p_system_account text,
  p_description text, p_reference text, p_expires_at timestamptz
) RETURNS TABLE (
  transaction_id bigint, kind text, wallet_id integer, amount numeric, balance_after numeric,
  created_at timestamptz, replayed boolean
) LANGUAGE plpgsql AS $$
DECLARE
  v_amount numeric := abs(p_delta);
  v_id bigint;
  v_created timestamptz;
  v_balance numeric;
  v_org integer;
  v_account integer;
BEGIN
  INSERT INTO ledger_transactions AS t (idempotency_key, kind, wallet_id, amount, description,
                                        reference)
  VALUES (p_key, p_kind, p_wallet_id, v_amount, p_description, p_reference)
  ON CONFLICT (idempotency_key) DO NOTHING
  RETURNING t.id, t.created_at INTO v_id, v_created;

  IF v_id IS NULL THEN
    RETURN QUERY
      SELECT t.id, t.kind::text, t.wallet_id, t.amount, h.balance_after, t.created_at, true
      FROM ledger_transactions t JOIN token_balance_history h ON h.transaction_id = t.id
      WHERE t.idempotency_key = p_key;
    RETURN;
  END IF;

  IF p_delta > 0 THEN
    UPDATE organization_token_wallets w
       SET current_balance = w.current_balance + v_amount,
           total_purchased = w.total_purchased
             + CASE WHEN p_kind = 'purchase' THEN v_amount ELSE 0 END,
           updated_at = now()
     WHERE w.id = p_wallet_id
    RETURNING w.current_balance, w.organization_id, w.ledger_account_id
      INTO v_balance, v_org, v_account;
  ELSE
    -- The conditional UPDATE decides and locks the wallet row: concurrent spends queue here.
    UPDATE organization_token_wallets w
       SET current_balance = w.current_balance - v_amount,
           total_consumed = w.total_consumed
             + CASE WHEN p_kind = 'consumption' THEN v_amount ELSE 0 END,
           updated_at = now()
     WHERE w.id = p_wallet_id AND w.current_balance >= v_amount
    RETURNING w.current_balance, w.organization_id, w.ledger_account_id
      INTO v_balance, v_org, v_account;
    IF NOT FOUND THEN
      SELECT w.current_balance INTO v_balance
        FROM organization_token_wallets w WHERE w.id = p_wallet_id;
      IF FOUND THEN
        RAISE EXCEPTION 'insufficient balance' USING ERRCODE = 'TB001', DETAIL = v_balance::text;
      END IF;
    END IF;
  END IF;
  IF v_account IS NULL THEN
    RAISE EXCEPTION 'wallet % does not exist', p_wallet_id USING ERRCODE = 'TB002';
  END IF;

  INSERT INTO ledger_entries (transaction_id, account_id, amount)
  SELECT v_id, v_account, p_delta
  UNION ALL
  SELECT v_id, a.id, -p_delta FROM ledger_accounts a WHERE a.code = p_system_account;

  IF p_delta > 0 THEN
    INSERT INTO token_lots (wallet_id, transaction_id, original_amount, remaining_amount,
                            expires_at)
    VALUES (p_wallet_id, v_id, v_amount, v_amount, p_expires_at);
  ELSE
    -- First to expire first (no expiry last), then oldest first.
    WITH ordered AS (
      SELECT l.id, l.remaining_amount,
             sum(l.remaining_amount) OVER (
               ORDER BY l.expires_at ASC NULLS LAST, l.created_at, l.id) AS running
        FROM token_lots l
       WHERE l.wallet_id = p_wallet_id AND l.remaining_amount > 0
    ), taken AS (
      SELECT o.id, LEAST(o.remaining_amount, v_amount - (o.running - o.remaining_amount)) AS take
        FROM ordered o WHERE o.running - o.remaining_amount < v_amount
    )
    UPDATE token_lots l SET remaining_amount = l.remaining_amount - taken.take
      FROM taken WHERE l.id = taken.id;
  END IF;

  INSERT INTO token_balance_history (wallet_id, organization_id, transaction_id, change_type,
                                     change_amount, balance_before, balance_after, description,
                                     reference)
  VALUES (p_wallet_id, v_org, v_id, p_kind, p_delta, v_balance - p_delta, v_balance,
          p_description, p_reference);

  RETURN QUERY SELECT v_id, p_kind, p_wallet_id, v_amount, v_balance, v_created, false;
END $$
"""


def upgrade() -> None:
    op.execute(LEDGER_POST)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION ledger_post(text, text, integer, numeric, text, text, text, timestamptz)"
    )
