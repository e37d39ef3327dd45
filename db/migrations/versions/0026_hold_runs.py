"""A run of holds and settlements in one call (issue 15: a hold plus its capture on a hot wallet
at least half as fast as a single spend).

The coalescer's transaction (`db/spend_together.py`) called `ledger_hold` once per new hold and
`ledger_hold_settle` once per capture or release. Each call locked the wallet, updated the hot
wallet row (and, for a capture, the wallet's lots) and wrote its rows one statement at a time.
Profiled inside PostgreSQL (pg_stat_user_functions, groups of 16 on one wallet): 0.23 ms per
`ledger_hold` and 0.38 ms per `ledger_hold_settle` (0.06 ms of it drawing the lots), against
0.17 ms per spend inside `ledger_spend_batch`.

`ledger_hold_ops_run` takes a run of one organization's new holds and settlements (captures,
releases, expiries) in arrival order and gives each the answer the single function would have
given at its place in line: it locks the wallet once, decides every item in order against the
running balances (a replay, a refusal for want of tokens, an inactive organization,
hold_not_found, hold_not_active, hold_expired, capture_exceeds_hold, a spend limit judged per
capture by `spend_limit_take`, the alerts of each hold by `ledger_balance_alerts`), then writes
what was applied set-wise: one INSERT per table (ledger transactions, entries, holds, balance
history, audit rows, each row as the single function writes it, with the same ledger keys
`hold:<id>:reserve|capture|release` and one audit row per item under its own caller), one UPDATE
of the wallet and of the settled holds, one draw of the lots for all the captures (drawing a
then b equals drawing a + b: the draw is greedy in a fixed order and nothing else moves the
lots in between). The available balance a hold is judged against counts back what the run
released before it and the expired tokens its captures drew (the draw takes expired lots first,
so they no longer count against the balance, as after a single capture). Transaction and hold
ids are taken from their sequences in arrival order, so they come out as the calls one by one
would have numbered them. A settlement of a hold placed earlier in the same run (its id can only
be guessed) sees it as placed.

A run never holds the same idempotency key or hold id twice: the caller starts a new run there
(the second sees the first written, as it would after a single call); the function refuses such
a run rather than answer it wrongly.

`ledger_hold` and `ledger_hold_settle` stay as they are for the calls one at a time (the API
without the coalescer, reversals, the expiry job).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_FUNCTIONS = (
    "ledger_hold_ops_run(integer, text[], text[], numeric[], timestamptz[], text[], text[],"
    " text[], integer[], bigint[], text[], text[], text[], text[], numeric, numeric, boolean)",
)

LEDGER_HOLD_OPS_RUN = """
CREATE FUNCTION ledger_hold_ops_run(
  p_organization_id integer, p_kinds text[], p_keys text[], p_amounts numeric[],
  p_expires_at timestamptz[], p_expiry_requests text[], p_descriptions text[],
  p_references text[], p_api_key_ids integer[], p_hold_ids bigint[], p_actor_types text[],
  p_actor_ids text[], p_ips text[], p_request_ids text[], p_low_default numeric DEFAULT NULL,
  p_critical_default numeric DEFAULT NULL, p_auto_topup boolean DEFAULT false
) RETURNS TABLE(item integer, status text, hold_id bigint, wallet_id integer, hold_status text,
                amount numeric, captured_amount numeric, released_amount numeric,
                balance numeric, held numeric, expires_at timestamptz, created_at timestamptz,
                settled_at timestamptz, description text, reference text, events integer,
                limit_id bigint, limit_scope text, limit_api_key_id integer, limit_period text,
                limit_cap numeric, limit_used numeric, limit_resets_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
  v_wallet record;
  v_found record;
  v_hold record;
  v_take record;
  v_i integer;
  v_j integer;
  v_kind text;
  v_amount numeric;
  v_available numeric;
  v_expired numeric;
  v_taken numeric;
  v_balance numeric;
  v_held numeric;
  v_topup numeric;
  v_refusal text;
  v_capture numeric;
  v_release numeric;
  v_events integer;
  v_tx bigint;
  v_new bigint;
  v_reserved numeric := 0;
  v_captured numeric := 0;
  v_released numeric := 0;
  v_settled_amount numeric := 0;
  v_settled timestamptz := now();
  v_limits boolean;
  v_held_account integer;
  v_consumption integer;
  v_keys text[] := '{}';
  -- the new holds, in order
  n_item integer[] := '{}';
  n_hold bigint[] := '{}';
  n_tx bigint[] := '{}';
  n_balance numeric[] := '{}';
  n_held numeric[] := '{}';
  -- the settlements, in order
  s_item integer[] := '{}';
  s_hold bigint[] := '{}';
  s_outcome text[] := '{}';
  s_amount numeric[] := '{}';
  s_capture numeric[] := '{}';
  s_release numeric[] := '{}';
  s_before numeric[] := '{}';
  s_capture_tx bigint[] := '{}';
  s_release_tx bigint[] := '{}';
  s_description text[] := '{}';
  s_reference text[] := '{}';
BEGIN
  -- The wallet row lock once for the run, as ledger_hold and ledger_hold_settle take it for
  -- one operation. An inactive organization's wallet is locked too: its new holds and
  -- captures are refused.
  SELECT w.id, w.current_balance, w.held_balance, w.ledger_account_id, o.is_active,
         coalesce(w.low_balance_threshold, p_low_default) AS low,
         coalesce(w.critical_balance_threshold, p_critical_default) AS critical INTO v_wallet
    FROM organization_token_wallets w JOIN organizations o ON o.id = w.organization_id
   WHERE w.organization_id = p_organization_id FOR UPDATE OF w;
  v_balance := v_wallet.current_balance;
  v_held := v_wallet.held_balance;
  IF v_wallet.is_active THEN
    v_expired := ledger_expired_remainder(p_organization_id, v_wallet.id);
    v_available := v_wallet.current_balance - v_expired;
    v_topup := ledger_topup_threshold(p_organization_id, v_wallet.id, p_auto_topup);
  END IF;
  v_limits := EXISTS (SELECT 1 FROM spend_limits l WHERE l.organization_id = p_organization_id);

  FOR v_i IN 1 .. coalesce(cardinality(p_kinds), 0) LOOP
    v_kind := p_kinds[v_i];
    IF v_kind = 'hold' THEN
      ------------------------------------------------------------------ a new hold
      IF p_keys[v_i] = ANY (v_keys) THEN
        RAISE EXCEPTION USING MESSAGE = 'hold key twice in one run: ' || p_keys[v_i];
      END IF;
      v_keys := v_keys || p_keys[v_i];
      v_amount := p_amounts[v_i];
      -- A replay answers the hold the key made (as it is now); another body is refused.
      SELECT h.id, h.wallet_id, h.status, h.amount, h.captured_amount, h.released_amount,
             h.expires_at, h.created_at, h.settled_at, h.description, h.reference,
             h.expiry_request INTO v_found
        FROM token_holds h
       WHERE h.organization_id = p_organization_id AND h.idempotency_key = p_keys[v_i];
      IF v_found.id IS NOT NULL THEN
        RETURN QUERY SELECT v_i,
          CASE WHEN v_found.amount = v_amount
                    AND v_found.description IS NOT DISTINCT FROM p_descriptions[v_i]
                    AND v_found.reference IS NOT DISTINCT FROM p_references[v_i]
                    AND v_found.expiry_request = p_expiry_requests[v_i]
               THEN 'replayed' ELSE 'idempotency_key_reused' END,
          v_found.id, v_found.wallet_id, v_found.status::text, v_found.amount,
          v_found.captured_amount, v_found.released_amount, v_balance, v_held,
          v_found.expires_at, v_found.created_at, v_found.settled_at,
          v_found.description::text, v_found.reference::text, 0, NULL::bigint, NULL::text,
          NULL::integer, NULL::text, NULL::numeric, NULL::numeric, NULL::timestamptz;
        CONTINUE;
      END IF;
      IF v_available IS NULL OR v_available < v_amount THEN
        RETURN QUERY
          SELECT v_i, r.status, NULL::bigint, r.wallet_id, NULL::text, v_amount, NULL::numeric,
                 NULL::numeric, greatest(r.balance, 0), NULL::numeric, NULL::timestamptz,
                 NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::text, 0, NULL::bigint,
                 NULL::text, NULL::integer, NULL::text, NULL::numeric, NULL::numeric,
                 NULL::timestamptz
            FROM ledger_spend_refusal(p_organization_id, v_amount, v_available) r;
        CONTINUE;
      END IF;
      v_new := nextval('token_holds_id_seq');
      v_tx := nextval('ledger_transactions_id_seq');
      v_available := v_available - v_amount;
      v_balance := v_balance - v_amount;
      v_held := v_held + v_amount;
      v_reserved := v_reserved + v_amount;
      -- The available balance fell as a spend's does: the same alerts, once per crossing.
      v_events := ledger_balance_alerts(p_organization_id, v_wallet.id, v_tx,
                                        v_balance + v_amount, v_balance, v_wallet.low,
                                        v_wallet.critical, v_topup);
      n_item := n_item || v_i;
      n_hold := n_hold || v_new;
      n_tx := n_tx || v_tx;
      n_balance := n_balance || v_balance;
      n_held := n_held || v_held;
      RETURN QUERY SELECT v_i, 'applied'::text, v_new, v_wallet.id, 'active'::text, v_amount,
                          0::numeric, 0::numeric, v_balance, v_held, p_expires_at[v_i], now(),
                          NULL::timestamptz, p_descriptions[v_i], p_references[v_i], v_events,
                          NULL::bigint, NULL::text, NULL::integer, NULL::text, NULL::numeric,
                          NULL::numeric, NULL::timestamptz;
      CONTINUE;
    END IF;

    ------------------------------------------------------------------ a settlement
    IF p_hold_ids[v_i] = ANY (s_hold) THEN
      RAISE EXCEPTION USING MESSAGE = 'hold settled twice in one run: ' || p_hold_ids[v_i];
    END IF;
    v_j := array_position(n_hold, p_hold_ids[v_i]);
    IF v_j IS NULL THEN
      SELECT h.id, h.wallet_id, h.status, h.amount, h.captured_amount, h.released_amount,
             h.expires_at, h.created_at, h.settled_at, h.description, h.reference,
             h.api_key_id INTO v_hold
        FROM token_holds h
       WHERE h.organization_id = p_organization_id AND h.id = p_hold_ids[v_i];
    ELSE
      -- A hold placed earlier in this run (its row is written at the end): as it is now.
      SELECT n_hold[v_j] AS id, v_wallet.id AS wallet_id, 'active'::text AS status,
             p_amounts[n_item[v_j]] AS amount, 0::numeric AS captured_amount,
             0::numeric AS released_amount, p_expires_at[n_item[v_j]] AS expires_at,
             now() AS created_at, NULL::timestamptz AS settled_at,
             p_descriptions[n_item[v_j]] AS description, p_references[n_item[v_j]] AS reference,
             p_api_key_ids[n_item[v_j]] AS api_key_id INTO v_hold;
    END IF;
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
        CASE WHEN v_kind = 'captured' AND v_hold.status = 'captured'
                  AND v_hold.captured_amount = coalesce(p_amounts[v_i], v_hold.amount)
               THEN 'replayed'
             WHEN v_kind IN ('released', 'expired')
                  AND v_hold.status IN ('released', 'expired') THEN 'replayed'
             ELSE 'hold_not_active' END
      WHEN v_kind = 'expired' AND v_hold.expires_at > now() THEN 'hold_not_expired'
      WHEN v_kind = 'captured' AND v_hold.expires_at <= now() THEN 'hold_expired'
      WHEN v_kind = 'captured' AND NOT v_wallet.is_active THEN 'organization_inactive'
      WHEN v_kind = 'captured' AND coalesce(p_amounts[v_i], v_hold.amount) > v_hold.amount
        THEN 'capture_exceeds_hold'
    END;
    IF v_refusal IS NOT NULL THEN
      RETURN QUERY SELECT v_i, v_refusal, v_hold.id, v_hold.wallet_id, v_hold.status::text,
                          v_hold.amount, v_hold.captured_amount, v_hold.released_amount,
                          v_balance, v_held, v_hold.expires_at, v_hold.created_at,
                          v_hold.settled_at, v_hold.description::text, v_hold.reference::text,
                          0, NULL::bigint, NULL::text, NULL::integer, NULL::text,
                          NULL::numeric, NULL::numeric, NULL::timestamptz;
      CONTINUE;
    END IF;
    v_events := 0;
    IF v_kind = 'captured' THEN
      v_capture := coalesce(p_amounts[v_i], v_hold.amount);
      -- The capture counts against the spend limits of the organization and of the key that
      -- placed the hold; one that would cross a hard cap is refused, nothing written.
      IF v_capture > 0 AND v_limits THEN
        SELECT * INTO v_take FROM spend_limit_take(p_organization_id, v_hold.api_key_id,
                                                   v_capture, NULL, true);
        IF NOT v_take.taken AND v_take.limit_id IS NOT NULL THEN
          RETURN QUERY SELECT v_i, 'spend_limit_reached'::text, v_hold.id, v_hold.wallet_id,
                              v_hold.status::text, v_hold.amount, v_hold.captured_amount,
                              v_hold.released_amount, v_balance, v_held, v_hold.expires_at,
                              v_hold.created_at, v_hold.settled_at, v_hold.description::text,
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
    s_item := s_item || v_i;
    s_hold := s_hold || v_hold.id;
    s_outcome := s_outcome || v_kind;
    s_amount := s_amount || v_hold.amount;
    s_capture := s_capture || v_capture;
    s_release := s_release || v_release;
    s_before := s_before || v_balance;
    s_capture_tx := s_capture_tx
      || CASE WHEN v_capture > 0 THEN nextval('ledger_transactions_id_seq') END;
    s_release_tx := s_release_tx
      || CASE WHEN v_release > 0 THEN nextval('ledger_transactions_id_seq') END;
    s_description := s_description || v_hold.description::text;
    s_reference := s_reference || v_hold.reference::text;
    v_captured := v_captured + v_capture;
    v_released := v_released + v_release;
    v_settled_amount := v_settled_amount + v_hold.amount;
    v_balance := v_balance + v_release;
    v_held := v_held - v_hold.amount;
    -- Released tokens are available again to the holds after this one; so are the expired
    -- tokens the capture draws (ledger_draw_held_lots draws expired lots first).
    v_taken := least(v_capture, v_expired);
    v_expired := v_expired - v_taken;
    v_available := v_available + v_release + v_taken;
    RETURN QUERY SELECT v_i, 'applied'::text, v_hold.id, v_wallet.id, v_kind, v_hold.amount,
                        v_capture, v_release, v_balance, v_held, v_hold.expires_at,
                        v_hold.created_at, v_settled, v_hold.description::text,
                        v_hold.reference::text, v_events, NULL::bigint, NULL::text,
                        NULL::integer, NULL::text, NULL::numeric, NULL::numeric,
                        NULL::timestamptz;
  END LOOP;

  IF cardinality(n_item) + cardinality(s_item) = 0 THEN
    RETURN;
  END IF;
  v_held_account := ledger_held_account(p_organization_id);
  SELECT a.id INTO v_consumption FROM ledger_accounts a WHERE a.code = 'system:consumption';

  -- Every ledger transaction of the run, in the order their ids were taken.
  INSERT INTO ledger_transactions (id, organization_id, idempotency_key, kind, wallet_id, amount,
                                   description, reference)
  SELECT x.tx, p_organization_id, x.key, x.kind, v_wallet.id, x.amount, x.description,
         x.reference
    FROM (SELECT n.tx, 'hold:' || n.hold || ':reserve' AS key, 'hold' AS kind,
                 p_amounts[n.item] AS amount, p_descriptions[n.item] AS description,
                 p_references[n.item] AS reference
            FROM unnest(n_item, n_hold, n_tx) AS n(item, hold, tx)
          UNION ALL
          SELECT p.tx, 'hold:' || s.hold || ':' || p.part, p.kind, p.amount, s.description,
                 s.reference
            FROM unnest(s_hold, s_capture_tx, s_capture, s_release_tx, s_release,
                        s_description, s_reference)
                 AS s(hold, capture_tx, capture, release_tx, release, description, reference)
           CROSS JOIN LATERAL (VALUES (s.capture_tx, 'capture', 'consumption', s.capture),
                                      (s.release_tx, 'release', 'hold_release', s.release))
                              AS p(tx, part, kind, amount)
           WHERE p.tx IS NOT NULL) x
   ORDER BY x.tx;
  INSERT INTO ledger_entries (organization_id, transaction_id, account_id, amount)
  SELECT p_organization_id, e.tx, e.account, e.amount
    FROM (SELECT n.tx, 1 AS n, v_wallet.ledger_account_id AS account,
                 -p_amounts[n.item] AS amount
            FROM unnest(n_item, n_tx) AS n(item, tx)
          UNION ALL
          SELECT n.tx, 2, v_held_account, p_amounts[n.item]
            FROM unnest(n_item, n_tx) AS n(item, tx)
          UNION ALL
          SELECT p.tx, p.n, p.account, p.amount
            FROM unnest(s_capture_tx, s_capture, s_release_tx, s_release)
                 AS s(capture_tx, capture, release_tx, release)
           CROSS JOIN LATERAL (VALUES (s.capture_tx, 1, v_held_account, -s.capture),
                                      (s.capture_tx, 2, v_consumption, s.capture),
                                      (s.release_tx, 1, v_held_account, -s.release),
                                      (s.release_tx, 2, v_wallet.ledger_account_id, s.release))
                              AS p(tx, n, account, amount)
           WHERE p.tx IS NOT NULL) e
   ORDER BY e.tx, e.n;
  IF v_captured > 0 THEN
    PERFORM ledger_draw_held_lots(p_organization_id, v_wallet.id, v_captured);
  END IF;

  -- One new version of the (hot) wallet row for the whole run.
  UPDATE organization_token_wallets w
     SET current_balance = w.current_balance - v_reserved + v_released,
         held_balance = w.held_balance + v_reserved - v_settled_amount,
         total_consumed = w.total_consumed + v_captured, updated_at = now()
   WHERE w.organization_id = p_organization_id AND w.id = v_wallet.id;

  INSERT INTO token_holds (organization_id, id, wallet_id, idempotency_key, amount, status,
                           description, reference, expires_at, expiry_request,
                           hold_transaction_id, api_key_id)
  SELECT p_organization_id, n.hold, v_wallet.id, p_keys[n.item], p_amounts[n.item], 'active',
         p_descriptions[n.item], p_references[n.item], p_expires_at[n.item],
         p_expiry_requests[n.item], n.tx, p_api_key_ids[n.item]
    FROM unnest(n_item, n_hold, n_tx) AS n(item, hold, tx)
   ORDER BY n.hold;
  UPDATE token_holds h
     SET status = s.outcome, captured_amount = s.capture, released_amount = s.release,
         settled_at = v_settled, capture_transaction_id = s.capture_tx,
         release_transaction_id = s.release_tx
    FROM unnest(s_hold, s_outcome, s_capture, s_release, s_capture_tx, s_release_tx)
         AS s(hold, outcome, capture, release, capture_tx, release_tx)
   WHERE h.organization_id = p_organization_id AND h.id = s.hold;

  -- A hold's row says the available balance fell; a capture's says what was consumed (the
  -- wallet account does not move: the hold took the tokens out of it); a release's says the
  -- tokens came back.
  INSERT INTO token_balance_history (wallet_id, organization_id, transaction_id, change_type,
                                     change_amount, balance_before, balance_after,
                                     description, reference)
  SELECT v_wallet.id, p_organization_id, x.tx, x.kind, x.change, x.before, x.after,
         x.description, x.reference
    FROM (SELECT n.tx, 'hold' AS kind, -p_amounts[n.item] AS change,
                 n.balance + p_amounts[n.item] AS before, n.balance AS after,
                 p_descriptions[n.item] AS description, p_references[n.item] AS reference
            FROM unnest(n_item, n_tx, n_balance) AS n(item, tx, balance)
          UNION ALL
          SELECT p.tx, p.kind, p.change, s.before, p.after, s.description, s.reference
            FROM unnest(s_capture_tx, s_capture, s_release_tx, s_release, s_before,
                        s_description, s_reference)
                 AS s(capture_tx, capture, release_tx, release, before, description,
                      reference)
           CROSS JOIN LATERAL (VALUES (s.capture_tx, 'hold_capture', -s.capture, s.before),
                                      (s.release_tx, 'hold_release', s.release,
                                       s.before + s.release))
                              AS p(tx, kind, change, after)
           WHERE p.tx IS NOT NULL) x
   ORDER BY x.tx;

  -- One audit row per applied operation, under its own caller, in arrival order.
  INSERT INTO token_audit_logs (actor_type, actor_id, organization_id, action, target_type,
                                target_id, before, after, ip_address, request_id)
  SELECT p_actor_types[x.item], p_actor_ids[x.item], p_organization_id, x.action, 'token_hold',
         x.hold::text, x.before, x.after, p_ips[x.item], p_request_ids[x.item]
    FROM (SELECT n.item, n.hold, 'tokens.hold' AS action, NULL::jsonb AS before,
                 jsonb_build_object('amount', trim_scale(p_amounts[n.item])::text,
                                    'balance', trim_scale(n.balance)::text,
                                    'held', trim_scale(n.held)::text,
                                    'expires_at', p_expires_at[n.item],
                                    'idempotency_key', p_keys[n.item],
                                    'reference', p_references[n.item],
                                    'transaction_id', n.tx) AS after
            FROM unnest(n_item, n_hold, n_tx, n_balance, n_held)
                 AS n(item, hold, tx, balance, held)
          UNION ALL
          SELECT s.item, s.hold,
                 CASE s.outcome WHEN 'captured' THEN 'tokens.hold.capture'
                                WHEN 'released' THEN 'tokens.hold.release'
                                ELSE 'tokens.hold.expire' END,
                 jsonb_build_object('status', 'active', 'amount', trim_scale(s.amount)::text),
                 jsonb_build_object('status', s.outcome,
                                    'captured', trim_scale(s.capture)::text,
                                    'released', trim_scale(s.release)::text,
                                    'capture_transaction_id', s.capture_tx,
                                    'release_transaction_id', s.release_tx)
            FROM unnest(s_item, s_hold, s_outcome, s_amount, s_capture, s_release,
                        s_capture_tx, s_release_tx)
                 AS s(item, hold, outcome, amount, capture, release, capture_tx, release_tx)) x
   ORDER BY x.item;
END $$
"""


def upgrade() -> None:
    # Bodies hold ledger keys such as 'hold:<id>:reserve', which SQLAlchemy's text() would read
    # as bind parameters: they go to the driver as they are (as 0019, 0023 and 0024 do).
    run = op.get_bind().exec_driver_sql
    run(LEDGER_HOLD_OPS_RUN)


def downgrade() -> None:
    for signature in NEW_FUNCTIONS:
        op.execute(f"DROP FUNCTION {signature}")
