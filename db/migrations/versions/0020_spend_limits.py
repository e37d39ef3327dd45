"""Spend limits: an organization caps its spending per API key or for the whole organization,
per UTC day or UTC month, hard (the spend is refused) or soft (allowed, one notification per
period and limit).

The limit is judged and counted in the spend's own transaction: the wrappers below lock the
wallet row (as `ledger_spend` does, so the lock order stays wallet first), read the usage of the
current period under that lock, then call the existing `ledger_spend` / `ledger_spend_batch`
and count only what they applied. An organization without limits pays one index probe of
`spend_limits` and goes straight to the existing function.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOKENS = sa.Numeric(20, 4)

PERIOD_START = """
CREATE FUNCTION spend_limit_period_start(p_period text, p_at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  -- UTC calendar periods, whatever the session's time zone.
  SELECT date_trunc(p_period, p_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
$$
"""

PERIOD_END = """
CREATE FUNCTION spend_limit_period_end(p_period text, p_at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT (date_trunc(p_period, p_at AT TIME ZONE 'UTC')
          + CASE p_period WHEN 'day' THEN interval '1 day' ELSE interval '1 month' END)
         AT TIME ZONE 'UTC'
$$
"""

# One row whatever happens: `wallet_id` NULL when the organization has no active wallet (nothing
# judged: the spend itself will say why), `limit_id` NULL when every hard limit has room.
SPEND_LIMIT_CHECK = """
CREATE FUNCTION spend_limit_check(
  p_organization_id integer, p_api_key_id integer, p_amount numeric, p_at timestamptz
) RETURNS TABLE (
  wallet_id integer, limit_id bigint, limit_scope text, limit_api_key_id integer,
  limit_period text, limit_cap numeric, limit_used numeric, limit_resets_at timestamptz
) LANGUAGE plpgsql AS $$
DECLARE
  v_wallet integer;
BEGIN
  -- The wallet row lock first, as every spend takes it: the organization's spends, captures and
  -- limit changes queue here, so the usage read below cannot change before this one commits.
  SELECT w.id INTO v_wallet
    FROM organization_token_wallets w JOIN organizations o ON o.id = w.organization_id
   WHERE w.organization_id = p_organization_id AND o.is_active FOR UPDATE OF w;
  IF v_wallet IS NULL THEN
    RETURN QUERY SELECT NULL::integer, NULL::bigint, NULL::text, NULL::integer, NULL::text,
                        NULL::numeric, NULL::numeric, NULL::timestamptz;
    RETURN;
  END IF;
  INSERT INTO spend_limit_usage AS u (organization_id, limit_id, period_start)
  SELECT l.organization_id, l.id, spend_limit_period_start(l.period, p_at)
    FROM spend_limits l
   WHERE l.organization_id = p_organization_id
     AND (l.api_key_id IS NULL OR l.api_key_id = p_api_key_id)
  ON CONFLICT DO NOTHING;
  RETURN QUERY
  SELECT q.wallet, h.id, h.scope, h.api_key_id, h.period::text, h.cap::numeric,
         h.used::numeric, h.resets_at
    FROM (SELECT v_wallet AS wallet) q
    LEFT JOIN LATERAL (
      SELECT l.id, CASE WHEN l.api_key_id IS NULL THEN 'organization' ELSE 'api_key' END AS scope,
             l.api_key_id, l.period, l.cap, u.used,
             spend_limit_period_end(l.period, p_at) AS resets_at
        FROM spend_limits l
        JOIN spend_limit_usage u
          ON u.organization_id = l.organization_id AND u.limit_id = l.id
         AND u.period_start = spend_limit_period_start(l.period, p_at)
       WHERE l.organization_id = p_organization_id
         AND (l.api_key_id IS NULL OR l.api_key_id = p_api_key_id)
         AND l.mode = 'hard' AND u.used + p_amount > l.cap
       ORDER BY l.api_key_id NULLS FIRST, l.period, l.id
       LIMIT 1) h ON true;
END $$
"""

# Adds (or, with a negative amount, takes back) an amount to the usage of every limit that
# applies; the caller holds the wallet lock (spend_limit_check took it).
SPEND_LIMIT_COUNT = """
CREATE FUNCTION spend_limit_count(
  p_organization_id integer, p_api_key_id integer, p_amount numeric, p_at timestamptz
) RETURNS void LANGUAGE sql AS $$
  UPDATE spend_limit_usage u SET used = u.used + p_amount
    FROM spend_limits l
   WHERE l.organization_id = p_organization_id
     AND (l.api_key_id IS NULL OR l.api_key_id = p_api_key_id)
     AND u.organization_id = l.organization_id AND u.limit_id = l.id
     AND u.period_start = spend_limit_period_start(l.period, p_at)
$$
"""

# One outbox event per soft limit, period and limit, the first time its usage reaches the cap.
SPEND_LIMIT_NOTIFY = """
CREATE FUNCTION spend_limit_notify(
  p_organization_id integer, p_api_key_id integer, p_wallet_id integer, p_at timestamptz
) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  v_events integer;
BEGIN
  WITH reached AS (
    UPDATE spend_limit_usage u SET notified_at = now()
      FROM spend_limits l
     WHERE l.organization_id = p_organization_id
       AND (l.api_key_id IS NULL OR l.api_key_id = p_api_key_id)
       AND l.mode = 'soft'
       AND u.organization_id = l.organization_id AND u.limit_id = l.id
       AND u.period_start = spend_limit_period_start(l.period, p_at)
       AND u.notified_at IS NULL AND u.used >= l.cap
    RETURNING l.id, l.api_key_id, l.period, l.cap, u.used, u.period_start
  ), recorded AS (
    INSERT INTO notification_events (idempotency_key, organization_id, wallet_id, event_type,
                                     severity, payload)
    SELECT 'spend_limit:' || p_organization_id || ':' || r.id || ':'
             || to_char(r.period_start AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
           p_organization_id, p_wallet_id, 'wallet.spend_limit_reached', 'warning',
           jsonb_build_object(
             'organization_id', p_organization_id, 'wallet_id', p_wallet_id,
             'limit_id', r.id,
             'scope', CASE WHEN r.api_key_id IS NULL THEN 'organization' ELSE 'api_key' END,
             'api_key_id', r.api_key_id, 'period', r.period, 'mode', 'soft',
             'cap', trim_scale(r.cap)::text, 'used', trim_scale(r.used)::text,
             'period_start', r.period_start,
             'resets_at', spend_limit_period_end(r.period, r.period_start))
      FROM reached r
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING 1
  )
  SELECT count(*) INTO v_events FROM recorded;
  RETURN v_events;
END $$
"""

# The hook for amounts that leave the wallet other than by `ledger_spend` (a hold's capture):
# judge (when p_enforce) and count in the caller's transaction. With p_enforce false the amount
# is counted even past a hard cap (the tokens were reserved before), and later spends are
# refused. `taken` false with a limit: refused, nothing counted; false without one: no active
# wallet, nothing counted.
SPEND_LIMIT_TAKE = """
CREATE FUNCTION spend_limit_take(
  p_organization_id integer, p_api_key_id integer, p_amount numeric, p_at timestamptz,
  p_enforce boolean
) RETURNS TABLE (
  taken boolean, events integer, limit_id bigint, limit_scope text, limit_api_key_id integer,
  limit_period text, limit_cap numeric, limit_used numeric, limit_resets_at timestamptz
) LANGUAGE plpgsql AS $$
DECLARE
  v_at timestamptz := coalesce(p_at, now());
  v_check record;
BEGIN
  SELECT * INTO v_check FROM spend_limit_check(p_organization_id, p_api_key_id, p_amount, v_at);
  IF v_check.wallet_id IS NULL OR (p_enforce AND v_check.limit_id IS NOT NULL) THEN
    RETURN QUERY SELECT false, 0, v_check.limit_id, v_check.limit_scope,
                        v_check.limit_api_key_id, v_check.limit_period, v_check.limit_cap,
                        v_check.limit_used, v_check.limit_resets_at;
    RETURN;
  END IF;
  PERFORM spend_limit_count(p_organization_id, p_api_key_id, p_amount, v_at);
  RETURN QUERY SELECT true,
                      spend_limit_notify(p_organization_id, p_api_key_id, v_check.wallet_id, v_at),
                      NULL::bigint, NULL::text, NULL::integer, NULL::text, NULL::numeric,
                      NULL::numeric, NULL::timestamptz;
END $$
"""

LIMIT_COLUMNS = """
  limit_id bigint, limit_scope text, limit_api_key_id integer, limit_period text,
  limit_cap numeric, limit_used numeric, limit_resets_at timestamptz"""
NO_LIMIT = (
    "NULL::bigint, NULL::text, NULL::integer, NULL::text, NULL::numeric, NULL::numeric, "
    "NULL::timestamptz"
)

# The columns of ledger_spend's answer named one by one, so a later version of it that answers
# more (holds) still fits these wrappers.
SPEND_COLUMNS = (
    "{x}.status, {x}.transaction_id, {x}.wallet_id, {x}.amount, {x}.balance, {x}.created_at, "
    "{x}.events"
)

LEDGER_SPEND_LIMITED = f"""
CREATE FUNCTION ledger_spend_limited(
  p_key text, p_organization_id integer, p_amount numeric, p_description text,
  p_reference text, p_low_default numeric, p_critical_default numeric, p_auto_topup boolean,
  p_actor_type text, p_actor_id text, p_ip text, p_request_id text,
  p_api_key_id integer, p_at timestamptz
) RETURNS TABLE (
  status text, transaction_id bigint, wallet_id integer, amount numeric, balance numeric,
  created_at timestamptz, events integer,{LIMIT_COLUMNS}
) LANGUAGE plpgsql AS $$
DECLARE
  v_at timestamptz;
  v_check record;
  v_spent record;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM spend_limits l WHERE l.organization_id = p_organization_id) THEN
    RETURN QUERY SELECT {SPEND_COLUMNS.format(x="s")}, {NO_LIMIT}
      FROM ledger_spend(p_key, p_organization_id, p_amount, p_description, p_reference,
                        p_low_default, p_critical_default, p_auto_topup, p_actor_type,
                        p_actor_id, p_ip, p_request_id) s;
    RETURN;
  END IF;
  -- A replay answers its first result even when the limit is reached now.
  RETURN QUERY SELECT {SPEND_COLUMNS.format(x="r")}, {NO_LIMIT}
    FROM ledger_spend_replay(p_key, p_amount, p_description, p_reference) r;
  IF FOUND THEN
    RETURN;
  END IF;
  v_at := coalesce(p_at, now());
  SELECT * INTO v_check FROM spend_limit_check(p_organization_id, p_api_key_id, p_amount, v_at);
  IF v_check.limit_id IS NOT NULL THEN
    -- A concurrent spend with this key may have committed while this one waited for the row.
    RETURN QUERY SELECT {SPEND_COLUMNS.format(x="r")}, {NO_LIMIT}
      FROM ledger_spend_replay(p_key, p_amount, p_description, p_reference) r;
    IF NOT FOUND THEN
      RETURN QUERY SELECT 'spend_limit_reached'::text, NULL::bigint, v_check.wallet_id, p_amount,
                          NULL::numeric, NULL::timestamptz, 0, v_check.limit_id,
                          v_check.limit_scope, v_check.limit_api_key_id, v_check.limit_period,
                          v_check.limit_cap, v_check.limit_used, v_check.limit_resets_at;
    END IF;
    RETURN;
  END IF;
  SELECT * INTO v_spent
    FROM ledger_spend(p_key, p_organization_id, p_amount, p_description, p_reference,
                      p_low_default, p_critical_default, p_auto_topup, p_actor_type, p_actor_id,
                      p_ip, p_request_id) s;
  IF v_spent.status = 'applied' THEN
    PERFORM spend_limit_count(p_organization_id, p_api_key_id, p_amount, v_at);
    v_spent.events := v_spent.events
      + spend_limit_notify(p_organization_id, p_api_key_id, v_spent.wallet_id, v_at);
  END IF;
  RETURN QUERY SELECT v_spent.status, v_spent.transaction_id, v_spent.wallet_id, v_spent.amount,
                      v_spent.balance, v_spent.created_at, v_spent.events, {NO_LIMIT};
END $$
"""

LEDGER_SPEND_BATCH_LIMITED = f"""
CREATE FUNCTION ledger_spend_batch_limited(
  p_keys text[], p_organization_ids integer[], p_amounts numeric[], p_descriptions text[],
  p_references text[], p_low_default numeric, p_critical_default numeric, p_auto_topup boolean,
  p_actor_type text, p_actor_id text, p_ip text, p_request_id text,
  p_api_key_ids integer[], p_at timestamptz
) RETURNS TABLE (
  item integer, status text, transaction_id bigint, wallet_id integer, amount numeric,
  balance numeric, created_at timestamptz, events integer,{LIMIT_COLUMNS}
) LANGUAGE plpgsql AS $$
DECLARE
  v_at timestamptz := coalesce(p_at, now());
  v_limited integer[];
  v_keep integer[] := '{{}}';
  v_counted boolean[] := '{{}}';
  v_kept boolean[] := '{{}}';
  v_first integer[];
  v_i integer;
  v_check record;
  v_done jsonb;
  v_row record;
  v_pair record;
  v_wallets jsonb := '{{}}';
  v_last jsonb := '{{}}';
  v_extra jsonb := '{{}}';
BEGIN
  SELECT array_agg(DISTINCT l.organization_id) INTO v_limited
    FROM spend_limits l WHERE l.organization_id = ANY (p_organization_ids);
  IF v_limited IS NULL THEN
    RETURN QUERY SELECT b.item, {SPEND_COLUMNS.format(x="b")}, {NO_LIMIT}
      FROM ledger_spend_batch(p_keys, p_organization_ids, p_amounts, p_descriptions,
                              p_references, p_low_default, p_critical_default, p_auto_topup,
                              p_actor_type, p_actor_id, p_ip, p_request_id) b;
    RETURN;
  END IF;

  -- Every wallet of the batch in organization order, as ledger_spend_batch locks them, before
  -- any usage row: two batches never wait on each other in a cycle.
  PERFORM 1 FROM organization_token_wallets w
    WHERE w.organization_id = ANY (p_organization_ids) ORDER BY w.organization_id
    FOR UPDATE;

  -- Where each key first appears in the batch: a repeat of a key passed on is the ledger's to
  -- answer (replayed or idempotency_key_reused), so it is neither judged nor counted here.
  v_first := ARRAY(SELECT min(u.n) OVER (PARTITION BY u.k)
                     FROM unnest(p_keys) WITH ORDINALITY u(k, n) ORDER BY u.n);

  -- The limit pass, in arrival order: an item that would cross a hard cap is refused here; the
  -- others of limited organizations are counted now and taken back below when not applied.
  FOR v_i IN 1 .. coalesce(array_length(p_keys, 1), 0) LOOP
    IF p_organization_ids[v_i] = ANY (v_limited)
       AND NOT (v_first[v_i] < v_i AND coalesce(v_kept[v_first[v_i]], false)) THEN
      PERFORM 1 FROM ledger_spend_replay(p_keys[v_i], p_amounts[v_i], p_descriptions[v_i],
                                         p_references[v_i]);
      IF NOT FOUND THEN
        SELECT * INTO v_check
          FROM spend_limit_check(p_organization_ids[v_i], p_api_key_ids[v_i], p_amounts[v_i],
                                 v_at);
        IF v_check.limit_id IS NOT NULL THEN
          RETURN QUERY SELECT v_i, 'spend_limit_reached'::text, NULL::bigint, v_check.wallet_id,
                              p_amounts[v_i], NULL::numeric, NULL::timestamptz, 0,
                              v_check.limit_id, v_check.limit_scope, v_check.limit_api_key_id,
                              v_check.limit_period, v_check.limit_cap, v_check.limit_used,
                              v_check.limit_resets_at;
          CONTINUE;
        END IF;
        IF v_check.wallet_id IS NOT NULL THEN
          PERFORM spend_limit_count(p_organization_ids[v_i], p_api_key_ids[v_i], p_amounts[v_i],
                                    v_at);
          v_counted[v_i] := true;
        END IF;
      END IF;
    END IF;
    v_keep := v_keep || v_i;
    v_kept[v_i] := true;
  END LOOP;

  SELECT coalesce(jsonb_agg(to_jsonb(b)), '[]'::jsonb) INTO v_done
    FROM ledger_spend_batch(
      ARRAY(SELECT p_keys[k] FROM unnest(v_keep) WITH ORDINALITY x(k, n) ORDER BY n),
      ARRAY(SELECT p_organization_ids[k] FROM unnest(v_keep) WITH ORDINALITY x(k, n) ORDER BY n),
      ARRAY(SELECT p_amounts[k] FROM unnest(v_keep) WITH ORDINALITY x(k, n) ORDER BY n),
      ARRAY(SELECT p_descriptions[k] FROM unnest(v_keep) WITH ORDINALITY x(k, n) ORDER BY n),
      ARRAY(SELECT p_references[k] FROM unnest(v_keep) WITH ORDINALITY x(k, n) ORDER BY n),
      p_low_default, p_critical_default, p_auto_topup, p_actor_type, p_actor_id, p_ip,
      p_request_id) b;

  -- Take back what was counted for items not applied (refused for balance), then notify once
  -- per soft limit reached.
  FOR v_row IN
    SELECT x.item, x.status, x.wallet_id FROM jsonb_to_recordset(v_done)
      AS x(item integer, status text, wallet_id integer)
  LOOP
    v_i := v_keep[v_row.item];
    IF v_row.status = 'applied' AND p_organization_ids[v_i] = ANY (v_limited) THEN
      -- Applied without being counted: a repeated key whose first item the balance refused.
      IF NOT coalesce(v_counted[v_i], false) THEN
        PERFORM spend_limit_count(p_organization_ids[v_i], p_api_key_ids[v_i], p_amounts[v_i],
                                  v_at);
      END IF;
      v_wallets := v_wallets || jsonb_build_object(
        p_organization_ids[v_i] || ':' || coalesce(p_api_key_ids[v_i]::text, ''),
        v_row.wallet_id);
      v_last := v_last || jsonb_build_object(
        p_organization_ids[v_i] || ':' || coalesce(p_api_key_ids[v_i]::text, ''), v_i);
    ELSIF coalesce(v_counted[v_i], false) THEN
      PERFORM spend_limit_count(p_organization_ids[v_i], p_api_key_ids[v_i], -p_amounts[v_i],
                                v_at);
    END IF;
  END LOOP;
  FOR v_pair IN SELECT k, (v_wallets ->> k)::integer AS wallet FROM jsonb_object_keys(v_wallets) k
  LOOP
    v_i := (v_last ->> v_pair.k)::integer;
    v_extra := v_extra || jsonb_build_object(v_i::text, spend_limit_notify(
      p_organization_ids[v_i], p_api_key_ids[v_i], v_pair.wallet, v_at));
  END LOOP;

  RETURN QUERY
  SELECT v_keep[x.item], x.status, x.transaction_id, x.wallet_id, x.amount, x.balance,
         x.created_at, x.events + coalesce((v_extra ->> v_keep[x.item]::text)::integer, 0),
         {NO_LIMIT}
    FROM jsonb_to_recordset(v_done) AS x(item integer, status text, transaction_id bigint,
                                         wallet_id integer, amount numeric, balance numeric,
                                         created_at timestamptz, events integer);
END $$
"""

FUNCTIONS = (
    PERIOD_START, PERIOD_END, SPEND_LIMIT_CHECK, SPEND_LIMIT_COUNT, SPEND_LIMIT_NOTIFY,
    SPEND_LIMIT_TAKE, LEDGER_SPEND_LIMITED, LEDGER_SPEND_BATCH_LIMITED,
)  # fmt: skip

DROPS = (
    "ledger_spend_batch_limited(text[], integer[], numeric[], text[], text[], numeric, numeric, "
    "boolean, text, text, text, text, integer[], timestamptz)",
    "ledger_spend_limited(text, integer, numeric, text, text, numeric, numeric, boolean, text, "
    "text, text, text, integer, timestamptz)",
    "spend_limit_take(integer, integer, numeric, timestamptz, boolean)",
    "spend_limit_notify(integer, integer, integer, timestamptz)",
    "spend_limit_count(integer, integer, numeric, timestamptz)",
    "spend_limit_check(integer, integer, numeric, timestamptz)",
    "spend_limit_period_end(text, timestamptz)",
    "spend_limit_period_start(text, timestamptz)",
)


def upgrade() -> None:
    op.create_table(
        "spend_limits",
        sa.Column("organization_id", sa.Integer, sa.ForeignKey("organizations.id"),
                  nullable=False),
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("api_key_id", sa.Integer, sa.ForeignKey("api_keys.id", ondelete="CASCADE")),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("cap", TOKENS, nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "id", name="pk_spend_limits"),
        sa.UniqueConstraint("organization_id", "api_key_id", "period",
                            name="uq_spend_limits_subject_period",
                            postgresql_nulls_not_distinct=True),
        sa.CheckConstraint("period IN ('day', 'month')", name="ck_spend_limits_period"),
        sa.CheckConstraint("mode IN ('hard', 'soft')", name="ck_spend_limits_mode"),
        sa.CheckConstraint("cap > 0", name="ck_spend_limits_cap_positive"),
    )  # fmt: skip
    op.create_table(
        "spend_limit_usage",
        sa.Column("organization_id", sa.Integer, nullable=False),
        sa.Column("limit_id", sa.BigInteger, nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used", TOKENS, server_default="0", nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("organization_id", "limit_id", "period_start",
                                name="pk_spend_limit_usage"),
        sa.ForeignKeyConstraint(["organization_id", "limit_id"],
                                ["spend_limits.organization_id", "spend_limits.id"],
                                ondelete="CASCADE", name="fk_spend_limit_usage_limit"),
    )  # fmt: skip
    for function in FUNCTIONS:
        op.execute(function)


def downgrade() -> None:
    for signature in DROPS:
        op.execute(f"DROP FUNCTION {signature}")
    op.drop_table("spend_limit_usage")
    op.drop_table("spend_limits")
