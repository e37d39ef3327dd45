"""Runs of holds and of settlements in one call each (issue 15: a hold plus its capture on a hot
wallet at least half as fast as a single spend).

The coalescer's transaction (`db/spend_together.py`) called `ledger_hold` once per new hold and
`ledger_hold_settle` once per capture or release. Each call locked the wallet, updated the hot
wallet row (and, for a capture, the wallet's lots) and wrote its rows one statement at a time;
every update of the hot wallet or lot row leaves one more row version that the next call's
lookup walks. Profiled inside PostgreSQL (pg_stat_user_functions, a group of 16): 0.23 ms per
`ledger_hold` and 0.38 ms per `ledger_hold_settle` (0.06 ms of it drawing the lots), against
0.17 ms per spend inside `ledger_spend_batch`.

`ledger_hold_run` and `ledger_hold_settle_run` take a run of one organization's holds (or
settlements) in arrival order and give each the answer the single function would have given
at its place in line: they lock the wallet once, decide every item in order against the running
balance (a replay, a refusal for want of tokens, an inactive organization, hold_not_active,
hold_expired, capture_exceeds_hold, a spend limit judged per capture by `spend_limit_take`, the
alerts of each hold by `ledger_balance_alerts`), then write what was applied set-wise: one
INSERT per table (ledger transactions, entries, holds, balance history, audit rows, each row
as the single function writes it, with the same ledger keys `hold:<id>:reserve|capture|release`
and one audit row per item under its own caller), one UPDATE of the wallet and of the held
holds, one draw of the lots for all the captures (drawing a then b equals drawing a + b: the
draw is greedy in a fixed order and nothing else moves the lots in between). Transaction and
hold ids are taken from their sequences in arrival order, so they come out as the calls one by
one would have numbered them.

A run never holds the same idempotency key (holds) or hold id (settlements) twice: the caller
starts a new run there (the second sees the first written, as it would after a single call); the
functions refuse such a run rather than answer it wrongly.

`ledger_hold` and `ledger_hold_settle` stay as they are for the calls one at a time (the API
without the coalescer, reversals, the expiry job).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_FUNCTIONS = (
    "ledger_hold_run(integer, text[], numeric[], timestamptz[], text[], text[], text[], text[],"
    " text[], text[], text[], integer[], numeric, numeric, boolean)",
    "ledger_hold_settle_run(integer, bigint[], text[], numeric[], text[], text[], text[], text[])",
)

LEDGER_HOLD_RUN = """
CREATE FUNCTION ledger_hold_run(
  p_organization_id integer, p_keys text[], p_amounts numeric[], p_expires_at timestamptz[],
  p_expiry_requests text[], p_descriptions text[], p_references text[], p_actor_types text[],
  p_actor_ids text[], p_ips text[], p_request_ids text[], p_api_key_ids integer[],
  p_low_default numeric DEFAULT NULL, p_critical_default numeric DEFAULT NULL,
  p_auto_topup boolean DEFAULT false
) RETURNS TABLE(item integer, status text, hold_id bigint, wallet_id integer, hold_status text,
                amount numeric, captured_amount numeric, released_amount numeric,
                balance numeric, held numeric, expires_at timestamptz, created_at timestamptz,
                settled_at timestamptz, description text, reference text, events integer)
LANGUAGE plpgsql AS $$
DECLARE
  v_wallet record;
  v_found record;
  v_i integer;
  v_amount numeric;
  v_available numeric;
  v_balance numeric;
  v_held numeric;
  v_topup numeric;
  v_total numeric := 0;
  v_hold bigint;
  v_tx bigint;
  v_events integer;
  v_held_account integer;
  v_keys text[] := '{}';
  a_item integer[] := '{}';
  a_hold bigint[] := '{}';
  a_tx bigint[] := '{}';
  a_balance numeric[] := '{}';
  a_held numeric[] := '{}';
BEGIN
  -- The wallet row lock once for the run, as ledger_hold takes it for one hold. An inactive
  -- organization's wallet is locked too (nothing is written to it): its holds are refused.
  SELECT w.id, w.current_balance, w.held_balance, w.ledger_account_id, o.is_active,
         coalesce(w.low_balance_threshold, p_low_default) AS low,
         coalesce(w.critical_balance_threshold, p_critical_default) AS critical INTO v_wallet
    FROM organization_token_wallets w JOIN organizations o ON o.id = w.organization_id
   WHERE w.organization_id = p_organization_id FOR UPDATE OF w;
  v_balance := v_wallet.current_balance;
  v_held := v_wallet.held_balance;
  IF v_wallet.is_active THEN
    v_available := v_wallet.current_balance
                   - ledger_expired_remainder(p_organization_id, v_wallet.id);
    v_topup := ledger_topup_threshold(p_organization_id, v_wallet.id, p_auto_topup);
  END IF;

  FOR v_i IN 1 .. coalesce(cardinality(p_keys), 0) LOOP
    IF p_keys[v_i] = ANY (v_keys) THEN
      RAISE EXCEPTION USING MESSAGE = 'hold key twice in one run: ' || p_keys[v_i];
    END IF;
    v_keys := v_keys || p_keys[v_i];
    v_amount := p_amounts[v_i];
    -- A replay answers the hold the key made (as it is now); another body is refused.
    SELECT h.* INTO v_found FROM token_holds h
     WHERE h.organization_id = p_organization_id AND h.idempotency_key = p_keys[v_i];
    IF FOUND THEN
      RETURN QUERY SELECT v_i,
        CASE WHEN v_found.amount = v_amount
                  AND v_found.description IS NOT DISTINCT FROM p_descriptions[v_i]
                  AND v_found.reference IS NOT DISTINCT FROM p_references[v_i]
                  AND v_found.expiry_request = p_expiry_requests[v_i]
             THEN 'replayed' ELSE 'idempotency_key_reused' END,
        v_found.id, v_found.wallet_id, v_found.status::text, v_found.amount,
        v_found.captured_amount, v_found.released_amount, v_balance, v_held,
        v_found.expires_at, v_found.created_at, v_found.settled_at, v_found.description,
        v_found.reference::text, 0;
      CONTINUE;
    END IF;

    IF v_available IS NULL OR v_available < v_amount THEN
      RETURN QUERY
        SELECT v_i, r.status, NULL::bigint, r.wallet_id, NULL::text, v_amount, NULL::numeric,
               NULL::numeric, greatest(r.balance, 0), NULL::numeric, NULL::timestamptz,
               NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::text, 0
          FROM ledger_spend_refusal(p_organization_id, v_amount, v_available) r;
      CONTINUE;
    END IF;

    v_hold := nextval('token_holds_id_seq');
    v_tx := nextval('ledger_transactions_id_seq');
    v_available := v_available - v_amount;
    v_balance := v_balance - v_amount;
    v_held := v_held + v_amount;
    v_total := v_total + v_amount;
    -- The available balance fell as a spend's does: the same alerts, once per crossing (0024).
    v_events := ledger_balance_alerts(p_organization_id, v_wallet.id, v_tx, v_balance + v_amount,
                                      v_balance, v_wallet.low, v_wallet.critical, v_topup);
    a_item := a_item || v_i;
    a_hold := a_hold || v_hold;
    a_tx := a_tx || v_tx;
    a_balance := a_balance || v_balance;
    a_held := a_held || v_held;
    RETURN QUERY SELECT v_i, 'applied'::text, v_hold, v_wallet.id, 'active'::text, v_amount,
                        0::numeric, 0::numeric, v_balance, v_held, p_expires_at[v_i], now(),
                        NULL::timestamptz, p_descriptions[v_i], p_references[v_i], v_events;
  END LOOP;

  IF cardinality(a_item) = 0 THEN
    RETURN;
  END IF;
  v_held_account := ledger_held_account(p_organization_id);
  INSERT INTO ledger_transactions (id, organization_id, idempotency_key, kind, wallet_id, amount,
                                   description, reference)
  SELECT a.tx, p_organization_id, 'hold:' || a.hold || ':reserve', 'hold', v_wallet.id,
         p_amounts[a.item], p_descriptions[a.item], p_references[a.item]
    FROM unnest(a_item, a_hold, a_tx) AS a(item, hold, tx)
   ORDER BY a.tx;
  INSERT INTO ledger_entries (organization_id, transaction_id, account_id, amount)
  SELECT p_organization_id, a.tx, e.account, e.amount
    FROM unnest(a_item, a_tx) WITH ORDINALITY AS a(item, tx, ord)
   CROSS JOIN LATERAL (VALUES (1, v_wallet.ledger_account_id, -p_amounts[a.item]),
                              (2, v_held_account, p_amounts[a.item])) AS e(n, account, amount)
   ORDER BY a.ord, e.n;

  UPDATE organization_token_wallets w
     SET current_balance = w.current_balance - v_total,
         held_balance = w.held_balance + v_total, updated_at = now()
   WHERE w.organization_id = p_organization_id AND w.id = v_wallet.id;

  INSERT INTO token_holds (organization_id, id, wallet_id, idempotency_key, amount, status,
                           description, reference, expires_at, expiry_request,
                           hold_transaction_id, api_key_id)
  SELECT p_organization_id, a.hold, v_wallet.id, p_keys[a.item], p_amounts[a.item], 'active',
         p_descriptions[a.item], p_references[a.item], p_expires_at[a.item],
         p_expiry_requests[a.item], a.tx, p_api_key_ids[a.item]
    FROM unnest(a_item, a_hold, a_tx) AS a(item, hold, tx)
   ORDER BY a.hold;

  INSERT INTO token_balance_history (wallet_id, organization_id, transaction_id, change_type,
                                     change_amount, balance_before, balance_after, description,
                                     reference)
  SELECT v_wallet.id, p_organization_id, a.tx, 'hold', -p_amounts[a.item],
         a.balance + p_amounts[a.item], a.balance, p_descriptions[a.item], p_references[a.item]
    FROM unnest(a_item, a_tx, a_balance) AS a(item, tx, balance)
   ORDER BY a.tx;

  INSERT INTO token_audit_logs (actor_type, actor_id, organization_id, action, target_type,
                                target_id, after, ip_address, request_id)
  SELECT p_actor_types[a.item], p_actor_ids[a.item], p_organization_id, 'tokens.hold',
         'token_hold', a.hold::text,
         jsonb_build_object('amount', trim_scale(p_amounts[a.item])::text,
                            'balance', trim_scale(a.balance)::text,
                            'held', trim_scale(a.held)::text,
                            'expires_at', p_expires_at[a.item],
                            'idempotency_key', p_keys[a.item],
                            'reference', p_references[a.item], 'transaction_id', a.tx),
         p_ips[a.item], p_request_ids[a.item]
    FROM unnest(a_item, a_hold, a_tx, a_balance, a_held) AS a(item, hold, tx, balance, held)
   ORDER BY a.tx;
END $$
"""

LEDGER_HOLD_SETTLE_RUN = """
CREATE FUNCTION ledger_hold_settle_run(
  p_organization_id integer, p_hold_ids bigint[], p_outcomes text[], p_captures numeric[],
  p_actor_types text[], p_actor_ids text[], p_ips text[], p_request_ids text[]
) RETURNS TABLE(item integer, status text, hold_id bigint, wallet_id integer, hold_status text,
                amount numeric, captured_amount numeric, released_amount numeric,
                balance numeric, held numeric, expires_at timestamptz, created_at timestamptz,
                settled_at timestamptz, description text, reference text, events integer,
                limit_id bigint, limit_scope text, limit_api_key_id integer, limit_period text,
                limit_cap numeric, limit_used numeric, limit_resets_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
  v_wallet record;
  v_hold record;
  v_take record;
  v_i integer;
  v_outcome text;
  v_refusal text;
  v_capture numeric;
  v_release numeric;
  v_events integer;
  v_balance numeric;
  v_held numeric;
  v_captured numeric := 0;
  v_released numeric := 0;
  v_settled timestamptz := now();
  v_limits boolean;
  v_held_account integer;
  v_consumption integer;
  a_item integer[] := '{}';
  a_hold bigint[] := '{}';
  a_outcome text[] := '{}';
  a_amount numeric[] := '{}';
  a_capture numeric[] := '{}';
  a_release numeric[] := '{}';
  a_before numeric[] := '{}';
  a_capture_tx bigint[] := '{}';
  a_release_tx bigint[] := '{}';
  a_description text[] := '{}';
  a_reference text[] := '{}';
BEGIN
  -- The wallet row lock once for the run, as ledger_hold_settle takes it for one settlement.
  SELECT w.id, w.ledger_account_id, w.current_balance, w.held_balance, o.is_active INTO v_wallet
    FROM organization_token_wallets w JOIN organizations o ON o.id = w.organization_id
   WHERE w.organization_id = p_organization_id FOR UPDATE OF w;
  v_balance := v_wallet.current_balance;
  v_held := v_wallet.held_balance;
  v_limits := EXISTS (SELECT 1 FROM spend_limits l WHERE l.organization_id = p_organization_id);

  FOR v_i IN 1 .. coalesce(cardinality(p_hold_ids), 0) LOOP
    IF p_hold_ids[v_i] = ANY (a_hold) THEN
      RAISE EXCEPTION USING MESSAGE = 'hold settled twice in one run: ' || p_hold_ids[v_i];
    END IF;
    v_outcome := p_outcomes[v_i];
    SELECT * INTO v_hold FROM token_holds h
     WHERE h.organization_id = p_organization_id AND h.id = p_hold_ids[v_i];
    IF v_hold.id IS NULL THEN
      RETURN QUERY SELECT v_i, 'hold_not_found'::text, p_hold_ids[v_i], NULL::integer,
                          NULL::text, NULL::numeric, NULL::numeric, NULL::numeric,
                          NULL::numeric, NULL::numeric, NULL::timestamptz, NULL::timestamptz,
                          NULL::timestamptz, NULL::text, NULL::text, 0, NULL::bigint,
                          NULL::text, NULL::integer, NULL::text, NULL::numeric, NULL::numeric,
                          NULL::timestamptz;
      CONTINUE;
    END IF;

    v_refusal := CASE
      WHEN v_hold.status <> 'active' THEN
        -- Settled before: the same request again is a replay; anything else is refused.
        CASE WHEN v_outcome = 'captured' AND v_hold.status = 'captured'
                  AND v_hold.captured_amount = coalesce(p_captures[v_i], v_hold.amount)
               THEN 'replayed'
             WHEN v_outcome IN ('released', 'expired')
                  AND v_hold.status IN ('released', 'expired') THEN 'replayed'
             ELSE 'hold_not_active' END
      WHEN v_outcome = 'expired' AND v_hold.expires_at > now() THEN 'hold_not_expired'
      WHEN v_outcome = 'captured' AND v_hold.expires_at <= now() THEN 'hold_expired'
      WHEN v_outcome = 'captured' AND NOT v_wallet.is_active THEN 'organization_inactive'
      WHEN v_outcome = 'captured' AND coalesce(p_captures[v_i], v_hold.amount) > v_hold.amount
        THEN 'capture_exceeds_hold'
    END;
    IF v_refusal IS NOT NULL THEN
      RETURN QUERY SELECT v_i, v_refusal, v_hold.id, v_hold.wallet_id, v_hold.status::text,
                          v_hold.amount, v_hold.captured_amount, v_hold.released_amount,
                          v_balance, v_held, v_hold.expires_at, v_hold.created_at,
                          v_hold.settled_at, v_hold.description, v_hold.reference::text, 0,
                          NULL::bigint, NULL::text, NULL::integer, NULL::text, NULL::numeric,
                          NULL::numeric, NULL::timestamptz;
      CONTINUE;
    END IF;

    v_events := 0;
    IF v_outcome = 'captured' THEN
      v_capture := coalesce(p_captures[v_i], v_hold.amount);
      -- The capture counts against the spend limits of the organization and of the key that
      -- placed the hold; one that would cross a hard cap is refused, nothing written.
      IF v_capture > 0 AND v_limits THEN
        SELECT * INTO v_take FROM spend_limit_take(p_organization_id, v_hold.api_key_id,
                                                   v_capture, NULL, true);
        IF NOT v_take.taken AND v_take.limit_id IS NOT NULL THEN
          RETURN QUERY SELECT v_i, 'spend_limit_reached'::text, v_hold.id, v_hold.wallet_id,
                              v_hold.status::text, v_hold.amount, v_hold.captured_amount,
                              v_hold.released_amount, v_balance, v_held, v_hold.expires_at,
                              v_hold.created_at, v_hold.settled_at, v_hold.description,
                              v_hold.reference::text, 0, v_take.limit_id, v_take.limit_scope,
                              v_take.limit_api_key_id, v_take.limit_period, v_take.limit_cap,
                              v_take.limit_used, v_take.limit_resets_at;
          CONTINUE;
        END IF;
        v_events := coalesce(v_take.events, 0);
      END IF;
    ELSE
      v_capture := 0;
    END IF;
    v_release := v_hold.amount - v_capture;

    a_item := a_item || v_i;
    a_hold := a_hold || v_hold.id;
    a_outcome := a_outcome || v_outcome;
    a_amount := a_amount || v_hold.amount;
    a_capture := a_capture || v_capture;
    a_release := a_release || v_release;
    a_before := a_before || v_balance;
    a_capture_tx := a_capture_tx
      || CASE WHEN v_capture > 0 THEN nextval('ledger_transactions_id_seq') END;
    a_release_tx := a_release_tx
      || CASE WHEN v_release > 0 THEN nextval('ledger_transactions_id_seq') END;
    a_description := a_description || v_hold.description::text;
    a_reference := a_reference || v_hold.reference::text;
    v_captured := v_captured + v_capture;
    v_released := v_released + v_release;
    v_balance := v_balance + v_release;
    v_held := v_held - v_hold.amount;
    RETURN QUERY SELECT v_i, 'applied'::text, v_hold.id, v_wallet.id, v_outcome, v_hold.amount,
                        v_capture, v_release, v_balance, v_held, v_hold.expires_at,
                        v_hold.created_at, v_settled, v_hold.description, v_hold.reference::text,
                        v_events, NULL::bigint, NULL::text, NULL::integer, NULL::text,
                        NULL::numeric, NULL::numeric, NULL::timestamptz;
  END LOOP;

  IF cardinality(a_item) = 0 THEN
    RETURN;
  END IF;
  v_held_account := ledger_held_account(p_organization_id);
  SELECT a.id INTO v_consumption FROM ledger_accounts a WHERE a.code = 'system:consumption';

  INSERT INTO ledger_transactions (id, organization_id, idempotency_key, kind, wallet_id, amount,
                                   description, reference)
  SELECT x.tx, p_organization_id, 'hold:' || a.hold || ':' || x.part, x.kind, v_wallet.id,
         x.amount, a.description, a.reference
    FROM unnest(a_hold, a_capture_tx, a_capture, a_release_tx, a_release, a_description,
                a_reference) AS a(hold, capture_tx, capture, release_tx, release, description,
                                  reference)
   CROSS JOIN LATERAL (VALUES (a.capture_tx, 'capture', 'consumption', a.capture),
                              (a.release_tx, 'release', 'hold_release', a.release))
                      AS x(tx, part, kind, amount)
   WHERE x.tx IS NOT NULL
   ORDER BY x.tx;
  INSERT INTO ledger_entries (organization_id, transaction_id, account_id, amount)
  SELECT p_organization_id, e.tx, e.account, e.amount
    FROM unnest(a_capture_tx, a_capture, a_release_tx, a_release)
         WITH ORDINALITY AS a(capture_tx, capture, release_tx, release, ord)
   CROSS JOIN LATERAL (VALUES (1, a.capture_tx, v_held_account, -a.capture),
                              (2, a.capture_tx, v_consumption, a.capture),
                              (3, a.release_tx, v_held_account, -a.release),
                              (4, a.release_tx, v_wallet.ledger_account_id, a.release))
                      AS e(n, tx, account, amount)
   WHERE e.tx IS NOT NULL
   ORDER BY a.ord, e.n;
  IF v_captured > 0 THEN
    PERFORM ledger_draw_held_lots(p_organization_id, v_wallet.id, v_captured);
  END IF;
  -- A capture leaves the wallet account as it is (the hold took the tokens out of it): its
  -- history row says what was consumed, with the balance before and after unchanged.
  INSERT INTO token_balance_history (wallet_id, organization_id, transaction_id, change_type,
                                     change_amount, balance_before, balance_after,
                                     description, reference)
  SELECT v_wallet.id, p_organization_id, h.tx, h.kind, h.change, a.before, h.after,
         a.description, a.reference
    FROM unnest(a_capture_tx, a_capture, a_release_tx, a_release, a_before, a_description,
                a_reference) AS a(capture_tx, capture, release_tx, release, before, description,
                                  reference)
   CROSS JOIN LATERAL (VALUES (a.capture_tx, 'hold_capture', -a.capture, a.before),
                              (a.release_tx, 'hold_release', a.release, a.before + a.release))
                      AS h(tx, kind, change, after)
   WHERE h.tx IS NOT NULL
   ORDER BY h.tx;

  -- One new version of the (hot) wallet row for the whole run.
  UPDATE organization_token_wallets w
     SET current_balance = w.current_balance + v_released,
         held_balance = w.held_balance - (v_captured + v_released),
         total_consumed = w.total_consumed + v_captured, updated_at = now()
   WHERE w.organization_id = p_organization_id AND w.id = v_wallet.id;

  UPDATE token_holds h
     SET status = a.outcome, captured_amount = a.capture, released_amount = a.release,
         settled_at = v_settled, capture_transaction_id = a.capture_tx,
         release_transaction_id = a.release_tx
    FROM unnest(a_hold, a_outcome, a_capture, a_release, a_capture_tx, a_release_tx)
         AS a(hold, outcome, capture, release, capture_tx, release_tx)
   WHERE h.organization_id = p_organization_id AND h.id = a.hold;

  INSERT INTO token_audit_logs (actor_type, actor_id, organization_id, action, target_type,
                                target_id, before, after, ip_address, request_id)
  SELECT p_actor_types[a.item], p_actor_ids[a.item], p_organization_id,
         CASE a.outcome WHEN 'captured' THEN 'tokens.hold.capture'
                        WHEN 'released' THEN 'tokens.hold.release'
                        ELSE 'tokens.hold.expire' END,
         'token_hold', a.hold::text,
         jsonb_build_object('status', 'active', 'amount', trim_scale(a.amount)::text),
         jsonb_build_object('status', a.outcome,
                            'captured', trim_scale(a.capture)::text,
                            'released', trim_scale(a.release)::text,
                            'capture_transaction_id', a.capture_tx,
                            'release_transaction_id', a.release_tx),
         p_ips[a.item], p_request_ids[a.item]
    FROM unnest(a_item, a_hold, a_outcome, a_amount, a_capture, a_release, a_capture_tx,
                a_release_tx) WITH ORDINALITY
         AS a(item, hold, outcome, amount, capture, release, capture_tx, release_tx, ord)
   ORDER BY a.ord;
END $$
"""


def upgrade() -> None:
    # Bodies hold ledger keys such as 'hold:<id>:reserve', which SQLAlchemy's text() would read
    # as bind parameters: they go to the driver as they are (as 0019, 0023 and 0024 do).
    run = op.get_bind().exec_driver_sql
    run(LEDGER_HOLD_RUN)
    run(LEDGER_HOLD_SETTLE_RUN)


def downgrade() -> None:
    for signature in NEW_FUNCTIONS:
        op.execute(f"DROP FUNCTION {signature}")
