"""Holds at the edges (issue 15 follow-ups): reversals of held tokens, and alerts at a hold.

1. A purchase reversal (`ledger_reverse_lot`: refund, compensation) or a dispute's freeze
   (`ledger_dispute_freeze`) takes the tokens that are left in the purchase's lot. A lot's
   remaining tokens include those active holds reserve (a hold moves tokens wallet -> held
   account without drawing lots; its capture draws them), so the wallet's available balance
   (`current_balance`) may be less than what the reversal takes: until now its UPDATE broke
   `ck_wallet_balance_not_negative` and the refund activity or the dispute webhook failed and was
   retried for ever, while the money was already gone. The money decides: the reversal takes the
   available tokens first, then releases the newest active holds, each in full, until the rest is
   free (`ledger_release_holds_for_reversal`). Each release is the hold's ordinary settlement
   (`ledger_hold_settle(..., 'released')`: its release transaction, its audit row, whose actor
   `system` / `reversal:<reversal key>`, cut to 64 characters, says why), plus an outbox event
   `wallet.hold_released` with the reason, so the client learns it before its capture is
   refused as `hold_not_active`.
   A hold is withdrawn whole rather than shrunk: its amount is what its placer was promised, and
   a smaller promise under the same id would be a surprise at capture time.

2. A hold lowers the available balance like a spend, so it raises the same alerts, once per
   crossing: `ledger_hold` takes the alert defaults (`p_low_default`, `p_critical_default`,
   `p_auto_topup`, as `ledger_spend` does) and, when the hold takes the available balance from at
   or above a threshold to below it, records the low/critical notification and its outbox event
   and the auto top-up trigger (`ledger_balance_alerts`, the alert part of `ledger_spend_book`,
   with the same keys `balance_<level>:<wallet>:<transaction>`, so the safety net sees the
   crossing notified). A capture does not move the available balance (no alert); a release
   raises it (which re-arms the thresholds). `ledger_hold` answers `events`.

`ledger_spend`, `ledger_spend_book` and the other spend functions are not changed. Each body
here starts from 0023's definition, with every organisation key kept.
"""

import runpy
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_HOLD_SIGNATURE = (
    "ledger_hold(text, integer, numeric, timestamptz, text, text, text, text, text, text, text,"
    " integer)"
)
NEW_HOLD_SIGNATURE = (
    "ledger_hold(text, integer, numeric, timestamptz, text, text, text, text, text, text, text,"
    " integer, numeric, numeric, boolean)"
)
NEW_FUNCTIONS = (
    "ledger_balance_alerts(integer, integer, bigint, numeric, numeric, numeric, numeric, numeric)",
    "ledger_release_holds_for_reversal(integer, integer, numeric, text)",
)

LEDGER_BALANCE_ALERTS = """
CREATE FUNCTION ledger_balance_alerts(
  p_organization_id integer, p_wallet_id integer, p_transaction_id bigint, p_before numeric,
  p_after numeric, p_low numeric, p_critical numeric, p_topup numeric
) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  v_events integer := 0;
  v_notification bigint;
  v_level record;
BEGIN
  -- ledger_spend_book's alerts, for a movement other than a spend that lowers the available
  -- balance: only the one that takes it from at-or-above a threshold to below it.
  FOR v_level IN
    SELECT * FROM (VALUES ('low', p_low, 'wallet.balance_low', 'warning'),
                          ('critical', p_critical, 'wallet.balance_critical', 'critical'))
             AS x(level, threshold, event_type, severity)
     WHERE x.threshold IS NOT NULL AND p_before >= x.threshold AND x.threshold > p_after
  LOOP
    INSERT INTO low_balance_notifications (wallet_id, organization_id, level, threshold, balance)
    VALUES (p_wallet_id, p_organization_id, v_level.level, v_level.threshold, p_after)
    RETURNING id INTO v_notification;
    INSERT INTO notification_events (idempotency_key, organization_id, wallet_id, event_type,
                                     severity, payload)
    VALUES ('balance_' || v_level.level || ':' || p_wallet_id || ':' || p_transaction_id,
            p_organization_id, p_wallet_id, v_level.event_type, v_level.severity,
            jsonb_build_object(
              'wallet_id', p_wallet_id, 'organization_id', p_organization_id,
              'level', v_level.level, 'threshold', trim_scale(v_level.threshold)::text,
              'balance', trim_scale(p_after)::text,
              'balance_before', trim_scale(p_before)::text,
              'transaction_id', p_transaction_id, 'notification_id', v_notification));
    v_events := v_events + 1;
  END LOOP;

  IF p_topup IS NOT NULL AND p_before >= p_topup AND p_topup > p_after THEN
    INSERT INTO notification_events (idempotency_key, organization_id, wallet_id, event_type,
                                     severity, payload)
    VALUES ('auto_topup_threshold:' || p_wallet_id || ':' || p_transaction_id, p_organization_id,
            p_wallet_id, 'wallet.auto_topup_threshold_crossed', 'info',
            jsonb_build_object(
              'wallet_id', p_wallet_id, 'organization_id', p_organization_id,
              'balance', trim_scale(p_after)::text,
              'threshold', trim_scale(p_topup)::text, 'transaction_id', p_transaction_id));
    v_events := v_events + 1;
  END IF;
  RETURN v_events;
END $$
"""

LEDGER_RELEASE_HOLDS_FOR_REVERSAL = """
CREATE FUNCTION ledger_release_holds_for_reversal(
  p_organization_id integer, p_wallet_id integer, p_shortfall numeric, p_reversal_key text
) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
  v_hold record;
  v_settled record;
  v_freed numeric := 0;
BEGIN
  -- Called by a reversal under the wallet's row lock, when the tokens it must take back are more
  -- than the available balance: the rest is held. The newest active holds are released, each in
  -- full, until p_shortfall tokens are back in the wallet; their placers are told.
  FOR v_hold IN
    SELECT h.id FROM token_holds h
     WHERE h.organization_id = p_organization_id AND h.wallet_id = p_wallet_id
       AND h.status = 'active'
     ORDER BY h.created_at DESC, h.id DESC
  LOOP
    EXIT WHEN v_freed >= p_shortfall;
    -- The audit row's actor names the reversal (cut to the column's 64 characters; the event
    -- below carries the whole key).
    SELECT s.status, s.released_amount, s.amount, s.reference INTO v_settled
      FROM ledger_hold_settle(p_organization_id, v_hold.id, 'released', NULL, 'system',
                              left('reversal:' || p_reversal_key, 64), NULL, NULL) s;
    IF v_settled.status <> 'applied' THEN
      RAISE EXCEPTION USING ERRCODE = 'TB010', MESSAGE = 'hold ' || v_hold.id
        || ' could not be released for reversal ' || p_reversal_key || ': ' || v_settled.status;
    END IF;
    v_freed := v_freed + v_settled.released_amount;
    INSERT INTO notification_events (idempotency_key, organization_id, wallet_id, event_type,
                                     severity, payload)
    VALUES ('hold_released:' || v_hold.id, p_organization_id,
            p_wallet_id, 'wallet.hold_released', 'warning',
            jsonb_build_object(
              'wallet_id', p_wallet_id, 'organization_id', p_organization_id,
              'hold_id', v_hold.id, 'amount', trim_scale(v_settled.amount)::text,
              'reference', v_settled.reference, 'reason', 'purchase_reversed',
              'reversal_key', p_reversal_key));
  END LOOP;
  IF v_freed < p_shortfall THEN
    -- The lots hold the wallet's available and held tokens together, so releasing every hold
    -- always covers a lot's remainder; this is a broken ledger, not a state to book around.
    RAISE EXCEPTION USING ERRCODE = 'TB010', MESSAGE = 'reversal ' || p_reversal_key
      || ' needs ' || p_shortfall || ' held tokens, the active holds free only ' || v_freed;
  END IF;
  RETURN v_freed;
END $$
"""

LEDGER_REVERSE_LOT = """
CREATE OR REPLACE FUNCTION ledger_reverse_lot(
  p_key text, p_credit_key text, p_description text, p_reference text
) RETURNS TABLE (
  transaction_id bigint, kind text, wallet_id integer, amount numeric,
  balance_after numeric, created_at timestamptz, replayed boolean
) LANGUAGE plpgsql AS $$
DECLARE
  v_wallet integer;
  v_org integer;
  v_lot bigint;
  v_remaining numeric;
  v_available numeric;
  v_id bigint;
  v_created timestamptz;
  v_balance numeric;
  v_account integer;
BEGIN
  SELECT l.wallet_id, l.organization_id, l.id INTO v_wallet, v_org, v_lot
    FROM ledger_transactions c
    JOIN token_lots l ON l.organization_id = c.organization_id AND l.transaction_id = c.id
   WHERE c.idempotency_key = p_credit_key;
  IF NOT FOUND THEN
    RETURN;  -- nothing was credited: nothing to take back
  END IF;
  -- Wallet row first, like every other movement: the lot cannot change meanwhile.
  SELECT w.current_balance INTO v_available FROM organization_token_wallets w
    WHERE w.organization_id = v_org AND w.id = v_wallet FOR UPDATE;

  RETURN QUERY
    SELECT t.id, t.kind::text, t.wallet_id, t.amount, h.balance_after, t.created_at, true
    FROM ledger_transactions t
    JOIN token_balance_history h
      ON h.organization_id = t.organization_id AND h.transaction_id = t.id
    WHERE t.organization_id = v_org AND t.idempotency_key = p_key;
  IF FOUND THEN
    RETURN;
  END IF;

  SELECT l.remaining_amount INTO v_remaining FROM token_lots l
   WHERE l.organization_id = v_org AND l.id = v_lot;
  IF v_remaining = 0 THEN
    RETURN;  -- spent or expired in full: nothing left to take
  END IF;
  -- Part of the lot may be held: the available tokens go first, then the newest holds (0024).
  IF v_remaining > v_available THEN
    PERFORM ledger_release_holds_for_reversal(v_org, v_wallet, v_remaining - v_available, p_key);
  END IF;

  INSERT INTO ledger_transactions AS t (organization_id, idempotency_key, kind, wallet_id,
                                        amount, description, reference)
  VALUES (v_org, p_key, 'reversal', v_wallet, v_remaining, p_description, p_reference)
  RETURNING t.id, t.created_at INTO v_id, v_created;

  UPDATE organization_token_wallets w
     SET current_balance = w.current_balance - v_remaining, updated_at = now()
   WHERE w.organization_id = v_org AND w.id = v_wallet
  RETURNING w.current_balance, w.ledger_account_id INTO v_balance, v_account;

  INSERT INTO ledger_entries (organization_id, transaction_id, account_id, amount)
  SELECT v_org, v_id, v_account, -v_remaining
  UNION ALL
  SELECT v_org, v_id, a.id, v_remaining
    FROM ledger_accounts a WHERE a.code = 'system:reversal';

  UPDATE token_lots l SET remaining_amount = 0
   WHERE l.organization_id = v_org AND l.id = v_lot;

  INSERT INTO token_balance_history (wallet_id, organization_id, transaction_id,
                                     change_type, change_amount, balance_before,
                                     balance_after, description, reference)
  VALUES (v_wallet, v_org, v_id, 'reversal', -v_remaining, v_balance + v_remaining,
          v_balance, p_description, p_reference);

  RETURN QUERY SELECT v_id, 'reversal'::text, v_wallet, v_remaining, v_balance, v_created,
                      false;
END $$
"""

LEDGER_DISPUTE_FREEZE = """
CREATE OR REPLACE FUNCTION ledger_dispute_freeze(
  p_key text, p_credit_key text, p_amount numeric, p_description text, p_reference text
) RETURNS TABLE (
  transaction_id bigint, kind text, wallet_id integer, amount numeric, balance_after numeric,
  created_at timestamptz, replayed boolean
) LANGUAGE plpgsql AS $$
DECLARE
  v_wallet integer;
  v_lot bigint;
  v_take numeric;
  v_available numeric;
  v_id bigint;
  v_created timestamptz;
  v_balance numeric;
  v_org integer;
  v_account integer;
BEGIN
  SELECT l.wallet_id, l.organization_id, l.id INTO v_wallet, v_org, v_lot
    FROM ledger_transactions c
    JOIN token_lots l
      ON l.organization_id = c.organization_id AND l.transaction_id = c.id
   WHERE c.idempotency_key = p_credit_key;
  IF NOT FOUND THEN
    RETURN;  -- nothing was credited: nothing to freeze
  END IF;
  SELECT w.current_balance INTO v_available FROM organization_token_wallets w
   WHERE w.organization_id = v_org AND w.id = v_wallet FOR UPDATE;

  RETURN QUERY
    SELECT t.id, t.kind::text, t.wallet_id, t.amount, h.balance_after, t.created_at, true
    FROM ledger_transactions t
    JOIN token_balance_history h
      ON h.organization_id = t.organization_id AND h.transaction_id = t.id
    WHERE t.organization_id = v_org AND t.idempotency_key = p_key;
  IF FOUND THEN
    RETURN;
  END IF;

  -- The disputed tokens of this purchase, as far as they are still in its lot.
  SELECT LEAST(l.remaining_amount, p_amount) INTO v_take FROM token_lots l
   WHERE l.organization_id = v_org AND l.id = v_lot;
  IF v_take = 0 THEN
    RETURN;
  END IF;
  -- Part of them may be held: the available tokens go first, then the newest holds (0024).
  IF v_take > v_available THEN
    PERFORM ledger_release_holds_for_reversal(v_org, v_wallet, v_take - v_available, p_key);
  END IF;

  INSERT INTO ledger_transactions AS t (organization_id, idempotency_key, kind, wallet_id, amount,
                                        description, reference)
  VALUES (v_org, p_key, 'dispute_freeze', v_wallet, v_take, p_description, p_reference)
  RETURNING t.id, t.created_at INTO v_id, v_created;

  UPDATE organization_token_wallets w
     SET current_balance = w.current_balance - v_take, updated_at = now()
   WHERE w.organization_id = v_org AND w.id = v_wallet
  RETURNING w.current_balance, w.ledger_account_id INTO v_balance, v_account;

  INSERT INTO ledger_entries (organization_id, transaction_id, account_id, amount)
  SELECT v_org, v_id, v_account, -v_take
  UNION ALL
  SELECT v_org, v_id, a.id, v_take FROM ledger_accounts a WHERE a.code = 'system:dispute_frozen';

  UPDATE token_lots l SET remaining_amount = l.remaining_amount - v_take
   WHERE l.organization_id = v_org AND l.id = v_lot;

  INSERT INTO token_balance_history (wallet_id, organization_id, transaction_id, change_type,
                                     change_amount, balance_before, balance_after, description,
                                     reference)
  VALUES (v_wallet, v_org, v_id, 'dispute_freeze', -v_take, v_balance + v_take, v_balance,
          p_description, p_reference);

  RETURN QUERY SELECT v_id, 'dispute_freeze'::text, v_wallet, v_take, v_balance, v_created, false;
END $$
"""

HOLD_RESULT = """status text, hold_id bigint, wallet_id integer, hold_status text, amount numeric,
  captured_amount numeric, released_amount numeric, balance numeric, held numeric,
  expires_at timestamptz, created_at timestamptz, settled_at timestamptz, description text,
  reference text, events integer"""

LEDGER_HOLD = f"""
CREATE FUNCTION ledger_hold(
  p_key text, p_organization_id integer, p_amount numeric, p_expires_at timestamptz,
  p_expiry_request text, p_description text, p_reference text,
  p_actor_type text, p_actor_id text, p_ip text, p_request_id text,
  p_api_key_id integer DEFAULT NULL, p_low_default numeric DEFAULT NULL,
  p_critical_default numeric DEFAULT NULL, p_auto_topup boolean DEFAULT false
) RETURNS TABLE ({HOLD_RESULT}) LANGUAGE plpgsql AS $$
DECLARE
  v_found record;
  v_wallet record;
  v_available numeric;
  v_hold bigint;
  v_tx bigint;
  v_held_account integer;
  v_balance numeric;
  v_held numeric;
  v_events integer;
BEGIN
  -- A replay answers the hold the key made (as it is now); another body is refused.
  SELECT h.id, h.amount, h.description, h.reference, h.expiry_request INTO v_found
    FROM token_holds h WHERE h.organization_id = p_organization_id AND h.idempotency_key = p_key;
  IF FOUND THEN
    RETURN QUERY SELECT a.*, 0 FROM ledger_hold_answer(
      CASE WHEN v_found.amount = p_amount AND v_found.description IS NOT DISTINCT FROM p_description
                AND v_found.reference IS NOT DISTINCT FROM p_reference
                AND v_found.expiry_request = p_expiry_request
           THEN 'replayed' ELSE 'idempotency_key_reused' END,
      p_organization_id, v_found.id) a;
    RETURN;
  END IF;

  -- The wallet row lock, as ledger_spend takes it: spends and holds queue on one lock and read
  -- the same available amount under it.
  SELECT w.id, w.current_balance, w.held_balance, w.ledger_account_id,
         coalesce(w.low_balance_threshold, p_low_default) AS low,
         coalesce(w.critical_balance_threshold, p_critical_default) AS critical INTO v_wallet
    FROM organization_token_wallets w JOIN organizations o ON o.id = w.organization_id
   WHERE w.organization_id = p_organization_id AND o.is_active FOR UPDATE OF w;
  IF FOUND THEN
    v_available := v_wallet.current_balance
                   - ledger_expired_remainder(p_organization_id, v_wallet.id);
    -- A concurrent hold with this key may have committed while this one waited for the row.
    SELECT h.id INTO v_hold FROM token_holds h
     WHERE h.organization_id = p_organization_id AND h.idempotency_key = p_key;
    IF v_hold IS NOT NULL THEN
      RETURN QUERY SELECT * FROM ledger_hold(p_key, p_organization_id, p_amount, p_expires_at,
                                             p_expiry_request, p_description, p_reference,
                                             p_actor_type, p_actor_id, p_ip, p_request_id,
                                             p_api_key_id, p_low_default, p_critical_default,
                                             p_auto_topup);
      RETURN;
    END IF;
  END IF;

  IF v_wallet.id IS NULL OR v_available < p_amount THEN
    RETURN QUERY
      SELECT r.status, NULL::bigint, r.wallet_id, NULL::text, p_amount, NULL::numeric,
             NULL::numeric, greatest(r.balance, 0), NULL::numeric, NULL::timestamptz,
             NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::text, 0
        FROM ledger_spend_refusal(p_organization_id, p_amount, v_available) r;
    RETURN;
  END IF;

  v_held_account := ledger_held_account(p_organization_id);
  v_hold := nextval('token_holds_id_seq');
  INSERT INTO ledger_transactions AS t (organization_id, idempotency_key, kind, wallet_id, amount,
                                        description, reference)
  VALUES (p_organization_id, 'hold:' || v_hold || ':reserve', 'hold', v_wallet.id, p_amount,
          p_description, p_reference)
  RETURNING t.id INTO v_tx;
  INSERT INTO ledger_entries (organization_id, transaction_id, account_id, amount)
  VALUES (p_organization_id, v_tx, v_wallet.ledger_account_id, -p_amount),
         (p_organization_id, v_tx, v_held_account, p_amount);

  UPDATE organization_token_wallets w
     SET current_balance = w.current_balance - p_amount,
         held_balance = w.held_balance + p_amount, updated_at = now()
   WHERE w.organization_id = p_organization_id AND w.id = v_wallet.id
  RETURNING w.current_balance, w.held_balance INTO v_balance, v_held;

  INSERT INTO token_holds (organization_id, id, wallet_id, idempotency_key, amount, status,
                           description, reference, expires_at, expiry_request,
                           hold_transaction_id, api_key_id)
  VALUES (p_organization_id, v_hold, v_wallet.id, p_key, p_amount, 'active', p_description,
          p_reference, p_expires_at, p_expiry_request, v_tx, p_api_key_id);

  INSERT INTO token_balance_history (wallet_id, organization_id, transaction_id, change_type,
                                     change_amount, balance_before, balance_after, description,
                                     reference)
  VALUES (v_wallet.id, p_organization_id, v_tx, 'hold', -p_amount, v_balance + p_amount,
          v_balance, p_description, p_reference);

  INSERT INTO token_audit_logs (actor_type, actor_id, organization_id, action, target_type,
                                target_id, after, ip_address, request_id)
  VALUES (p_actor_type, p_actor_id, p_organization_id, 'tokens.hold', 'token_hold',
          v_hold::text,
          jsonb_build_object('amount', trim_scale(p_amount)::text,
                             'balance', trim_scale(v_balance)::text,
                             'held', trim_scale(v_held)::text,
                             'expires_at', p_expires_at, 'idempotency_key', p_key,
                             'reference', p_reference, 'transaction_id', v_tx),
          p_ip, p_request_id);

  -- The available balance fell as a spend's does: the same alerts, once per crossing (0024).
  v_events := ledger_balance_alerts(
    p_organization_id, v_wallet.id, v_tx, v_balance + p_amount, v_balance, v_wallet.low,
    v_wallet.critical, ledger_topup_threshold(p_organization_id, v_wallet.id, p_auto_topup));

  RETURN QUERY SELECT 'applied'::text, v_hold, v_wallet.id, 'active'::text, p_amount,
                      0::numeric, 0::numeric, v_balance, v_held, p_expires_at, now(),
                      NULL::timestamptz, p_description, p_reference, v_events;
END $$
"""


def upgrade() -> None:
    # Bodies hold ledger keys such as 'hold:<id>:reserve', which SQLAlchemy's text() would read
    # as bind parameters: they go to the driver as they are (as 0019 and 0023 do).
    run = op.get_bind().exec_driver_sql
    for body in (LEDGER_BALANCE_ALERTS, LEDGER_RELEASE_HOLDS_FOR_REVERSAL):
        run(body)
    run(LEDGER_REVERSE_LOT)
    run(LEDGER_DISPUTE_FREEZE)
    op.execute(f"DROP FUNCTION {OLD_HOLD_SIGNATURE}")
    run(LEDGER_HOLD)


def downgrade() -> None:
    previous = runpy.run_path(str(Path(__file__).with_name("0023_distributed_schema.py")))
    run = op.get_bind().exec_driver_sql
    op.execute(f"DROP FUNCTION {NEW_HOLD_SIGNATURE}")
    run(previous["_edited"]("LEDGER_HOLD"))
    run(previous["_edited"]("LEDGER_DISPUTE_FREEZE"))
    (reverse_lot,) = [f for f in previous["FUNCTIONS"] if "FUNCTION ledger_reverse_lot(" in f]
    run(reverse_lot)
    for signature in NEW_FUNCTIONS:
        op.execute(f"DROP FUNCTION {signature}")
