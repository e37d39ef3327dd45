"""A deactivated organization spends nothing: `ledger_spend` and `ledger_spend_batch` find its
wallet only while the organization is active, and `ledger_spend_refusal` answers
`organization_inactive` for it. The check joins the organization's row by its key in the wallet
lookup the spend already makes, so a spend is still one statement. A replay of a spend made
before the deactivation still answers its first result (nothing moves).
"""

import runpy
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEDGER_SPEND_REFUSAL = """
CREATE OR REPLACE FUNCTION ledger_spend_refusal(
  p_organization_id integer, p_amount numeric, p_balance numeric
) RETURNS TABLE (
  status text, transaction_id bigint, wallet_id integer, amount numeric, balance numeric,
  created_at timestamptz, events integer
) LANGUAGE sql STABLE AS $$
  -- A deactivated organization, not enough tokens (the balance now, or p_balance when the
  -- caller knows better), a wallet not made yet (balance 0), or no such organization.
  SELECT CASE WHEN NOT o.is_active THEN 'organization_inactive'
              WHEN w.id IS NOT NULL OR o.id IS NOT NULL THEN 'insufficient_balance'
              ELSE 'organization_not_found' END,
         NULL::bigint, w.id, p_amount,
         CASE WHEN w.id IS NOT NULL THEN coalesce(p_balance, w.current_balance)
              WHEN o.id IS NOT NULL THEN 0::numeric END,
         NULL::timestamptz, 0
    FROM (SELECT p_organization_id AS org) q
    LEFT JOIN organizations o ON o.id = q.org
    LEFT JOIN organization_token_wallets w ON w.organization_id = q.org
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
  -- A deactivated organization's wallet is not found here: the refusal says why.
  SELECT w.id, w.current_balance, w.ledger_account_id,
         coalesce(w.low_balance_threshold, p_low_default),
         coalesce(w.critical_balance_threshold, p_critical_default)
    INTO v_wallet, v_balance, v_account, v_low, v_critical
    FROM organization_token_wallets w JOIN organizations o ON o.id = w.organization_id
   WHERE w.organization_id = p_organization_id AND o.is_active FOR UPDATE OF w;
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
      FROM organization_token_wallets w JOIN organizations o ON o.id = w.organization_id
     WHERE w.organization_id = v_org AND o.is_active FOR UPDATE OF w;
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


def upgrade() -> None:
    for function in (LEDGER_SPEND_REFUSAL, LEDGER_SPEND, LEDGER_SPEND_BATCH):
        op.execute(function)


def _earlier(module: str, name: str) -> str:
    """A function as an earlier migration defined it, to be put back in place."""
    definitions = runpy.run_path(str(Path(__file__).with_name(module)))
    text: str = definitions[name]
    return text.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def downgrade() -> None:
    op.execute(_earlier("0005_spending.py", "LEDGER_SPEND_REFUSAL"))
    for name in ("LEDGER_SPEND", "LEDGER_SPEND_BATCH"):
        op.execute(_earlier("0009_spendable_lots.py", name))
