"""spending, API keys, balance alerts (issue 4)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 00:40:00

`ledger_spend` is the whole spend in one server-side call: the replay check, the conditional
wallet UPDATE that decides (never below zero), the books, the lot draw-down, and the alert and
auto top-up outbox rows when the spend crosses a threshold downward. It answers a status instead
of raising, so a batch (`ledger_spend_batch`) applies many spends in one transaction without a
savepoint per item, and an item refused leaves nothing behind. Each applied spend writes its
audit row (who spent, from where) in the same call.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEDGER_DRAW_LOTS = """
CREATE FUNCTION ledger_draw_lots(p_wallet_id integer, p_amount numeric) RETURNS void
LANGUAGE sql AS $$
  -- First to expire first (no expiry last), then oldest first.
  WITH ordered AS (
    SELECT l.id, l.remaining_amount,
           sum(l.remaining_amount) OVER (
             ORDER BY l.expires_at ASC NULLS LAST, l.created_at, l.id) AS running
      FROM token_lots l
     WHERE l.wallet_id = p_wallet_id AND l.remaining_amount > 0
  ), taken AS (
    SELECT o.id, LEAST(o.remaining_amount, p_amount - (o.running - o.remaining_amount)) AS take
      FROM ordered o WHERE o.running - o.remaining_amount < p_amount
  )
  UPDATE token_lots l SET remaining_amount = l.remaining_amount - taken.take
    FROM taken WHERE l.id = taken.id
$$
"""

LEDGER_SPEND_BOOK = """
CREATE FUNCTION ledger_spend_book(
  p_id bigint, p_key text, p_wallet_id integer, p_account_id integer, p_organization_id integer,
  p_amount numeric, p_before numeric, p_after numeric, p_description text, p_reference text,
  p_low numeric, p_critical numeric, p_topup numeric,
  p_actor_type text, p_actor_id text, p_ip text, p_request_id text
) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  v_events integer := 0;
  v_notification bigint;
  v_level record;
BEGIN
  INSERT INTO ledger_entries (transaction_id, account_id, amount)
  SELECT p_id, p_account_id, -p_amount
  UNION ALL
  SELECT p_id, a.id, p_amount FROM ledger_accounts a WHERE a.code = 'system:consumption';

  INSERT INTO token_balance_history (wallet_id, organization_id, transaction_id, change_type,
                                     change_amount, balance_before, balance_after, description,
                                     reference)
  VALUES (p_wallet_id, p_organization_id, p_id, 'consumption', -p_amount, p_before, p_after,
          p_description, p_reference);

  INSERT INTO token_audit_logs (actor_type, actor_id, organization_id, action, target_type,
                                target_id, after, ip_address, request_id)
  VALUES (p_actor_type, p_actor_id, p_organization_id, 'tokens.consume', 'ledger_transaction',
          p_id::text,
          jsonb_build_object('amount', trim_scale(p_amount)::text,
                             'balance', trim_scale(p_after)::text,
                             'idempotency_key', p_key, 'reference', p_reference),
          p_ip, p_request_id);

  -- Alerts: only the spend that takes the balance from at-or-above a threshold to below it.
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
    VALUES ('balance_' || v_level.level || ':' || p_wallet_id || ':' || p_id, p_organization_id,
            p_wallet_id, v_level.event_type, v_level.severity,
            jsonb_build_object(
              'wallet_id', p_wallet_id, 'organization_id', p_organization_id,
              'level', v_level.level, 'threshold', trim_scale(v_level.threshold)::text,
              'balance', trim_scale(p_after)::text,
              'balance_before', trim_scale(p_before)::text,
              'transaction_id', p_id, 'notification_id', v_notification));
    v_events := v_events + 1;
  END LOOP;

  IF p_topup IS NOT NULL AND p_before >= p_topup AND p_topup > p_after THEN
    INSERT INTO notification_events (idempotency_key, organization_id, wallet_id, event_type,
                                     severity, payload)
    VALUES ('auto_topup_threshold:' || p_wallet_id || ':' || p_id, p_organization_id,
            p_wallet_id, 'wallet.auto_topup_threshold_crossed', 'info',
            jsonb_build_object(
              'wallet_id', p_wallet_id, 'organization_id', p_organization_id,
              'balance', trim_scale(p_after)::text,
              'threshold', trim_scale(p_topup)::text, 'transaction_id', p_id));
    v_events := v_events + 1;
  END IF;
  RETURN v_events;
END $$
"""

LEDGER_TOPUP_THRESHOLD = """
CREATE FUNCTION ledger_topup_threshold(p_wallet_id integer, p_enabled boolean) RETURNS numeric
LANGUAGE sql STABLE AS $$
  SELECT p.threshold FROM auto_topup_policies p
   WHERE p_enabled AND p.wallet_id = p_wallet_id AND p.enabled AND p.threshold IS NOT NULL
$$
"""

LEDGER_SPEND = """
CREATE FUNCTION ledger_spend(
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

  -- The conditional UPDATE decides and locks the wallet row: concurrent spends queue here.
  UPDATE organization_token_wallets w
     SET current_balance = w.current_balance - p_amount,
         total_consumed = w.total_consumed + p_amount,
         updated_at = now()
   WHERE w.organization_id = p_organization_id AND w.current_balance >= p_amount
  RETURNING w.id, w.current_balance, w.ledger_account_id,
            coalesce(w.low_balance_threshold, p_low_default),
            coalesce(w.critical_balance_threshold, p_critical_default)
    INTO v_wallet, v_balance, v_account, v_low, v_critical;

  IF NOT FOUND THEN
    -- A concurrent spend with this key may have committed while this one waited for the row.
    RETURN QUERY SELECT * FROM ledger_spend_replay(p_key, p_amount, p_description, p_reference);
    IF NOT FOUND THEN
      RETURN QUERY SELECT * FROM ledger_spend_refusal(p_organization_id, p_amount, NULL);
    END IF;
    RETURN;
  END IF;

  INSERT INTO ledger_transactions AS t (idempotency_key, kind, wallet_id, amount, description,
                                        reference)
  VALUES (p_key, 'consumption', v_wallet, p_amount, p_description, p_reference)
  ON CONFLICT (idempotency_key) DO NOTHING
  RETURNING t.id, t.created_at INTO v_id, v_created;
  IF v_id IS NULL THEN
    -- The key was committed by a concurrent spend after the replay check: give the tokens back
    -- (same transaction, so nobody saw them gone) and answer as a replay.
    UPDATE organization_token_wallets w
       SET current_balance = w.current_balance + p_amount,
           total_consumed = w.total_consumed - p_amount
     WHERE w.id = v_wallet;
    RETURN QUERY SELECT * FROM ledger_spend_replay(p_key, p_amount, p_description, p_reference);
    RETURN;
  END IF;

  PERFORM ledger_draw_lots(v_wallet, p_amount);
  v_events := ledger_spend_book(
    v_id, p_key, v_wallet, v_account, p_organization_id, p_amount, v_balance + p_amount,
    v_balance, p_description, p_reference, v_low, v_critical,
    ledger_topup_threshold(v_wallet, p_auto_topup), p_actor_type, p_actor_id, p_ip,
    p_request_id);
  RETURN QUERY SELECT 'applied'::text, v_id, v_wallet, p_amount, v_balance, v_created, v_events;
END $$
"""

LEDGER_SPEND_REFUSAL = """
CREATE FUNCTION ledger_spend_refusal(
  p_organization_id integer, p_amount numeric, p_balance numeric
) RETURNS TABLE (
  status text, transaction_id bigint, wallet_id integer, amount numeric, balance numeric,
  created_at timestamptz, events integer
) LANGUAGE sql STABLE AS $$
  -- Not enough tokens (the balance now, or p_balance when the caller knows better), a wallet
  -- not made yet (balance 0), or no such organization.
  SELECT CASE WHEN w.id IS NOT NULL OR o.id IS NOT NULL THEN 'insufficient_balance'
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

LEDGER_SPEND_REPLAY = """
CREATE FUNCTION ledger_spend_replay(
  p_key text, p_amount numeric, p_description text, p_reference text
) RETURNS TABLE (
  status text, transaction_id bigint, wallet_id integer, amount numeric, balance numeric,
  created_at timestamptz, events integer
) LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN t.kind = 'consumption' AND t.amount = p_amount
                   AND t.description IS NOT DISTINCT FROM p_description
                   AND t.reference IS NOT DISTINCT FROM p_reference
              THEN 'replayed' ELSE 'idempotency_key_reused' END,
         t.id, t.wallet_id, t.amount, h.balance_after, t.created_at, 0
    FROM ledger_transactions t JOIN token_balance_history h ON h.transaction_id = t.id
   WHERE t.idempotency_key = p_key
$$
"""

LEDGER_SPEND_BATCH = """
CREATE FUNCTION ledger_spend_batch(
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
  FOR v_org IN SELECT DISTINCT u.org FROM unnest(p_organization_ids) AS u(org) ORDER BY u.org
  LOOP
    SELECT w.id, w.current_balance, w.ledger_account_id,
           coalesce(w.low_balance_threshold, p_low_default) AS low,
           coalesce(w.critical_balance_threshold, p_critical_default) AS critical
      INTO v_wallet
      FROM organization_token_wallets w WHERE w.organization_id = v_org FOR UPDATE;
    v_running := v_wallet.current_balance;
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
      IF v_wallet.id IS NULL OR v_running < p_amounts[v_i] THEN
        RETURN QUERY SELECT v_i, r.* FROM ledger_spend_refusal(v_org, p_amounts[v_i], v_running) r;
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

ACTOR_ARGUMENTS = "text, text, text, text"
SPEND_ARGUMENTS = (
    f"text, integer, numeric, text, text, numeric, numeric, boolean, {ACTOR_ARGUMENTS}"
)
BATCH_ARGUMENTS = (
    f"text[], integer[], numeric[], text[], text[], numeric, numeric, boolean, {ACTOR_ARGUMENTS}"
)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("key_prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "scopes",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_hash"),
    )
    op.create_index(
        "idx_low_balance_notifications_org_created",
        "low_balance_notifications",
        ["organization_id", sa.text("created_at DESC")],
    )
    for function in (
        LEDGER_DRAW_LOTS, LEDGER_SPEND_BOOK, LEDGER_TOPUP_THRESHOLD, LEDGER_SPEND_REPLAY,
        LEDGER_SPEND_REFUSAL, LEDGER_SPEND, LEDGER_SPEND_BATCH,
    ):  # fmt: skip
        op.execute(function)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION ledger_spend_batch({BATCH_ARGUMENTS})")
    op.execute(f"DROP FUNCTION ledger_spend({SPEND_ARGUMENTS})")
    op.execute("DROP FUNCTION ledger_spend_replay(text, numeric, text, text)")
    op.execute("DROP FUNCTION ledger_spend_refusal(integer, numeric, numeric)")
    op.execute("DROP FUNCTION ledger_topup_threshold(integer, boolean)")
    op.execute(
        "DROP FUNCTION ledger_spend_book(bigint, text, integer, integer, integer, numeric, "
        "numeric, numeric, text, text, numeric, numeric, numeric, text, text, text, text)"
    )
    op.execute("DROP FUNCTION ledger_draw_lots(integer, numeric)")
    op.drop_index(
        "idx_low_balance_notifications_org_created", table_name="low_balance_notifications"
    )
    op.drop_table("api_keys")
