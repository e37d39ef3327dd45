"""spends leave expired lots alone; only an expired lot can be expired (issue 9)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 19:00:00

A lot is expired from its `expires_at` on, not from the nightly sweep that books it. Until the
sweep runs, the wallet's cached balance still holds the expired remainder (the balance always
equals the sum of its entries), so a spend decides on the spendable balance: the cached balance
less `ledger_expired_remainder`, read while the wallet row is locked, so no expiry, credit or
other spend of the wallet can change either between the check and the write. Spends draw only
unexpired lots, and a refusal reports the spendable balance. `ledger_expire_lot` refuses a lot
that has no expiry or whose expiry is still ahead (TB004).

The movements of `ledger_post` (credits, reversals, adjustments) are left as they were.
"""

import runpy
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "tokenbill_app"

LEDGER_EXPIRED_REMAINDER = """
CREATE FUNCTION ledger_expired_remainder(p_wallet_id integer) RETURNS numeric
LANGUAGE sql STABLE AS $$
  -- What the wallet holds in lots past their expiry that the sweep has not booked yet.
  SELECT coalesce(sum(l.remaining_amount), 0) FROM token_lots l
   WHERE l.wallet_id = p_wallet_id AND l.remaining_amount > 0 AND l.expires_at <= now()
$$
"""

LEDGER_DRAW_LOTS = """
CREATE OR REPLACE FUNCTION ledger_draw_lots(p_wallet_id integer, p_amount numeric) RETURNS void
LANGUAGE sql AS $$
  -- Unexpired lots only: first to expire first (no expiry last), then oldest first.
  WITH ordered AS (
    SELECT l.id, l.remaining_amount,
           sum(l.remaining_amount) OVER (
             ORDER BY l.expires_at ASC NULLS LAST, l.created_at, l.id) AS running
      FROM token_lots l
     WHERE l.wallet_id = p_wallet_id AND l.remaining_amount > 0
       AND (l.expires_at IS NULL OR l.expires_at > now())
  ), taken AS (
    SELECT o.id, LEAST(o.remaining_amount, p_amount - (o.running - o.remaining_amount)) AS take
      FROM ordered o WHERE o.running - o.remaining_amount < p_amount
  )
  UPDATE token_lots l SET remaining_amount = l.remaining_amount - taken.take
    FROM taken WHERE l.id = taken.id
$$
"""

LEDGER_SPEND = """
CREATE OR REPLACE FUNCTION ledger_spend(
  p_key text, p_organization_id integer, p_amount numeric, p_description text,
  p_reference text, p_low_default numeric, p_critical_default numeric, p_auto_topup boolean,
  p_actor_type text, p_actor_id text, p_ip text, p_request_id text
) RETURNS TABLE (
  status text, transaction_id bigint, wallet_id integer, amount numeric, balance numeric,
  created_at timestamptz, events integer
) LANGUAGE plpgsql AS $$
DECLARE
  v_id bigint;
  v_created timestamptz;
  v_wallet integer;
  v_balance numeric;
  v_spendable numeric;
  v_account integer;
  v_low numeric;
  v_critical numeric;
  v_events integer;
BEGIN
  -- A replay answers the first result; the same key with another body is refused.
  RETURN QUERY SELECT * FROM ledger_spend_replay(p_key, p_amount, p_description, p_reference);
  IF FOUND THEN
    RETURN;
  END IF;

  -- The wallet row lock comes first (concurrent spends queue here); the spendable balance is
  -- read under it, in a statement of its own, so it sees every movement committed before.
  SELECT w.id, w.current_balance, w.ledger_account_id,
         coalesce(w.low_balance_threshold, p_low_default),
         coalesce(w.critical_balance_threshold, p_critical_default)
    INTO v_wallet, v_balance, v_account, v_low, v_critical
    FROM organization_token_wallets w WHERE w.organization_id = p_organization_id FOR UPDATE;
  IF FOUND THEN
    v_spendable := v_balance - ledger_expired_remainder(v_wallet);
  END IF;

  IF v_wallet IS NULL OR v_spendable < p_amount THEN
    -- A concurrent spend with this key may have committed while this one waited for the row.
    RETURN QUERY SELECT * FROM ledger_spend_replay(p_key, p_amount, p_description, p_reference);
    IF NOT FOUND THEN
      RETURN QUERY SELECT * FROM ledger_spend_refusal(p_organization_id, p_amount, v_spendable);
    END IF;
    RETURN;
  END IF;

  -- The row is locked: no spend of this organization's keys commits meanwhile.
  INSERT INTO ledger_transactions AS t (idempotency_key, kind, wallet_id, amount, description,
                                        reference)
  VALUES (p_key, 'consumption', v_wallet, p_amount, p_description, p_reference)
  ON CONFLICT (idempotency_key) DO NOTHING
  RETURNING t.id, t.created_at INTO v_id, v_created;
  IF v_id IS NULL THEN
    RETURN QUERY SELECT * FROM ledger_spend_replay(p_key, p_amount, p_description, p_reference);
    RETURN;
  END IF;

  UPDATE organization_token_wallets w
     SET current_balance = w.current_balance - p_amount,
         total_consumed = w.total_consumed + p_amount,
         updated_at = now()
   WHERE w.id = v_wallet
  RETURNING w.current_balance INTO v_balance;

  PERFORM ledger_draw_lots(v_wallet, p_amount);
  v_events := ledger_spend_book(
    v_id, p_key, v_wallet, v_account, p_organization_id, p_amount, v_balance + p_amount,
    v_balance, p_description, p_reference, v_low, v_critical,
    ledger_topup_threshold(v_wallet, p_auto_topup), p_actor_type, p_actor_id, p_ip,
    p_request_id);
  RETURN QUERY SELECT 'applied'::text, v_id, v_wallet, p_amount, v_balance, v_created, v_events;
END $$
"""

LEDGER_SPEND_BATCH = """
CREATE OR REPLACE FUNCTION ledger_spend_batch(
  p_keys text[], p_organization_ids integer[], p_amounts numeric[], p_descriptions text[],
  p_references text[], p_low_default numeric, p_critical_default numeric, p_auto_topup boolean,
  p_actor_type text, p_actor_id text, p_ip text, p_request_id text
) RETURNS TABLE (
  item integer, status text, transaction_id bigint, wallet_id integer, amount numeric,
  balance numeric, created_at timestamptz, events integer
) LANGUAGE plpgsql AS $$
DECLARE
  v_org integer;
  v_i integer;
  v_wallet record;
  v_running numeric;
  v_spendable numeric;
  v_spent numeric;
  v_topup numeric;
  v_id bigint;
  v_created timestamptz;
  v_events integer;
  v_row record;
BEGIN
  -- Wallets are locked in organization order, so two batches never wait on each other in a
  -- cycle. Each wallet is locked once and updated once with the sum of its applied items, and
  -- its lots are drawn once: a hot wallet costs one row version per batch, not one per item.
  -- `v_running` is the cached balance the books show, `v_spendable` what items may still take.
  FOR v_org IN SELECT DISTINCT u.org FROM unnest(p_organization_ids) AS u(org) ORDER BY u.org
  LOOP
    SELECT w.id, w.current_balance, w.ledger_account_id,
           coalesce(w.low_balance_threshold, p_low_default) AS low,
           coalesce(w.critical_balance_threshold, p_critical_default) AS critical
      INTO v_wallet
      FROM organization_token_wallets w WHERE w.organization_id = v_org FOR UPDATE;
    v_running := v_wallet.current_balance;
    v_spendable := CASE WHEN v_wallet.id IS NULL THEN NULL
                        ELSE v_running - ledger_expired_remainder(v_wallet.id) END;
    v_spent := 0;
    v_topup := CASE WHEN v_wallet.id IS NULL THEN NULL
                    ELSE ledger_topup_threshold(v_wallet.id, p_auto_topup) END;
    FOR v_i IN
      SELECT u.ord FROM unnest(p_organization_ids) WITH ORDINALITY AS u(org, ord)
       WHERE u.org = v_org ORDER BY u.ord
    LOOP
      SELECT * INTO v_row
        FROM ledger_spend_replay(p_keys[v_i], p_amounts[v_i], p_descriptions[v_i],
                                 p_references[v_i]);
      IF FOUND THEN
        RETURN QUERY SELECT v_i, v_row.status, v_row.transaction_id, v_row.wallet_id,
                            v_row.amount, v_row.balance, v_row.created_at, 0;
        CONTINUE;
      END IF;
      IF v_wallet.id IS NULL OR v_spendable < p_amounts[v_i] THEN
        RETURN QUERY SELECT v_i, r.*
          FROM ledger_spend_refusal(v_org, p_amounts[v_i], v_spendable) r;
        CONTINUE;
      END IF;
      -- The wallet lock is held, so no concurrent spend of this organization's keys commits now.
      INSERT INTO ledger_transactions AS t (idempotency_key, kind, wallet_id, amount,
                                            description, reference)
      VALUES (p_keys[v_i], 'consumption', v_wallet.id, p_amounts[v_i], p_descriptions[v_i],
              p_references[v_i])
      RETURNING t.id, t.created_at INTO v_id, v_created;
      v_events := ledger_spend_book(
        v_id, p_keys[v_i], v_wallet.id, v_wallet.ledger_account_id, v_org, p_amounts[v_i],
        v_running, v_running - p_amounts[v_i], p_descriptions[v_i], p_references[v_i],
        v_wallet.low, v_wallet.critical, v_topup, p_actor_type, p_actor_id, p_ip,
        p_request_id);
      v_running := v_running - p_amounts[v_i];
      v_spendable := v_spendable - p_amounts[v_i];
      v_spent := v_spent + p_amounts[v_i];
      RETURN QUERY SELECT v_i, 'applied'::text, v_id, v_wallet.id, p_amounts[v_i], v_running,
                          v_created, v_events;
    END LOOP;
    IF v_spent > 0 THEN
      UPDATE organization_token_wallets w
         SET current_balance = w.current_balance - v_spent,
             total_consumed = w.total_consumed + v_spent,
             updated_at = now()
       WHERE w.id = v_wallet.id;
      PERFORM ledger_draw_lots(v_wallet.id, v_spent);
    END IF;
  END LOOP;
END $$
"""

LEDGER_EXPIRE_LOT = """
CREATE OR REPLACE FUNCTION ledger_expire_lot(p_key text, p_lot_id bigint, p_description text)
RETURNS TABLE (
  transaction_id bigint, kind text, wallet_id integer, amount numeric, balance_after numeric,
  created_at timestamptz, replayed boolean
) LANGUAGE plpgsql AS $$
DECLARE
  v_wallet integer;
  v_expires timestamptz;
  v_remaining numeric;
  v_id bigint;
  v_created timestamptz;
  v_balance numeric;
  v_org integer;
  v_account integer;
BEGIN
  SELECT l.wallet_id, l.expires_at INTO v_wallet, v_expires FROM token_lots l
   WHERE l.id = p_lot_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'lot % does not exist', p_lot_id USING ERRCODE = 'TB003';
  END IF;
  -- A lot's expiry never changes, so this holds for the rest of the call.
  IF v_expires IS NULL OR v_expires > now() THEN
    RAISE EXCEPTION 'lot % has not expired', p_lot_id USING ERRCODE = 'TB004',
      DETAIL = coalesce(v_expires::text, 'no expiry');
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


def upgrade() -> None:
    op.execute(LEDGER_EXPIRED_REMAINDER)
    op.execute(f"GRANT EXECUTE ON FUNCTION ledger_expired_remainder(integer) TO {APP_ROLE}")
    for function in (LEDGER_DRAW_LOTS, LEDGER_SPEND, LEDGER_SPEND_BATCH, LEDGER_EXPIRE_LOT):
        op.execute(function)


def _earlier(module: str, name: str) -> str:
    """A function as an earlier migration defined it, to be put back in place."""
    definitions = runpy.run_path(str(Path(__file__).with_name(module)))
    text: str = definitions[name]
    return text.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def downgrade() -> None:
    for name in ("LEDGER_DRAW_LOTS", "LEDGER_SPEND", "LEDGER_SPEND_BATCH"):
        op.execute(_earlier("0005_spending.py", name))
    op.execute(_earlier("0007_operations_jobs.py", "LEDGER_EXPIRE_LOT"))
    op.execute("DROP FUNCTION ledger_expired_remainder(integer)")
