"""Holds: reserve tokens, then capture all or part of them (the rest is released), release
them, or let them expire (issue 15).

A hold moves its tokens out of the wallet's account into the organization's held account
(`held:org-<id>`, kind `held`): the wallet's cached balance (`current_balance`, still the sum
of the wallet account's entries) goes down by the amount and `held_balance` (the sum of the held
account's entries) up by it, under the wallet row lock every spend takes first. So spends and
new holds compete for one number, `current_balance` less the expired remainder, and neither
`ledger_spend` nor `ledger_spend_batch` needs to change: what they already check is exactly
"balance less held less expired". Lots are not touched by a hold: the wallet's lots hold
`current_balance + held_balance`, and a capture draws them down (lots past their expiry first,
since the hold guaranteed those tokens while they were valid). A capture moves held ->
system:consumption (`hold:<id>:capture`, kind consumption), a release or an expiry moves
held -> wallet (`hold:<id>:release`, kind hold_release); the hold row's status, changed under the
wallet lock every settlement takes first, lets exactly one of capture, release and expiry
happen.

`ledger_expire_lot` leaves a lot for a later sweep while booking it would take the wallet below
zero, i.e. while held tokens need it; the lot's key is not used, so the next sweep books it.
"""

import runpy
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOKENS = sa.Numeric(20, 4)
# The kinds 0018 allows (the wallet's and the payment provider's), and with holds' two.
_KINDS_BEFORE = (
    "'balance_vs_entries', 'balance_vs_lots', 'unbalanced_transaction', "
    "'provider_missing_in_ledger', 'provider_missing_at_provider', 'provider_amount_mismatch'"
)
MISMATCH_KINDS = f"kind IN ({_KINDS_BEFORE})"
MISMATCH_KINDS_WITH_HOLDS = f"kind IN ({_KINDS_BEFORE}, 'held_vs_entries', 'held_vs_holds')"

LEDGER_DRAW_HELD_LOTS = """
CREATE FUNCTION ledger_draw_held_lots(p_wallet_id integer, p_amount numeric) RETURNS void
LANGUAGE sql AS $$
  -- A capture's draw: lots past their expiry first (held tokens were reserved while valid, and
  -- the expiry sweep waits for them), then as a spend draws: first to expire, then oldest.
  WITH ordered AS (
    SELECT l.id, l.remaining_amount,
           sum(l.remaining_amount) OVER (
             ORDER BY (l.expires_at IS NOT NULL AND l.expires_at <= now()) DESC,
                      l.expires_at ASC NULLS LAST, l.created_at, l.id) AS running
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

LEDGER_HELD_ACCOUNT = """
CREATE FUNCTION ledger_held_account(p_organization_id integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_account integer;
BEGIN
  -- Called under the wallet's row lock, so two holds of one organization never race here.
  SELECT a.id INTO v_account FROM ledger_accounts a WHERE a.code = 'held:org-' || p_organization_id;
  IF v_account IS NULL THEN
    INSERT INTO ledger_accounts (code, kind, description)
    VALUES ('held:org-' || p_organization_id, 'held',
            'Tokens held for organization ' || p_organization_id)
    RETURNING id INTO v_account;
  END IF;
  RETURN v_account;
END $$
"""

HOLD_RESULT = """
  status text, hold_id bigint, wallet_id integer, hold_status text, amount numeric,
  captured_amount numeric, released_amount numeric, balance numeric, held numeric,
  expires_at timestamptz, created_at timestamptz, settled_at timestamptz, description text,
  reference text
"""

LEDGER_HOLD_ANSWER = f"""
CREATE FUNCTION ledger_hold_answer(p_status text, p_organization_id integer, p_hold_id bigint)
RETURNS TABLE ({HOLD_RESULT}) LANGUAGE sql STABLE AS $$
  SELECT p_status, h.id, h.wallet_id, h.status::text, h.amount, h.captured_amount,
         h.released_amount, w.current_balance, w.held_balance, h.expires_at, h.created_at,
         h.settled_at, h.description, h.reference::text
    FROM token_holds h JOIN organization_token_wallets w ON w.id = h.wallet_id
   WHERE h.organization_id = p_organization_id AND h.id = p_hold_id
$$
"""

LEDGER_HOLD = f"""
CREATE FUNCTION ledger_hold(
  p_key text, p_organization_id integer, p_amount numeric, p_expires_at timestamptz,
  p_expiry_request text, p_description text, p_reference text,
  p_actor_type text, p_actor_id text, p_ip text, p_request_id text
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
BEGIN
  -- A replay answers the hold the key made (as it is now); another body is refused.
  SELECT h.id, h.amount, h.description, h.reference, h.expiry_request INTO v_found
    FROM token_holds h WHERE h.organization_id = p_organization_id AND h.idempotency_key = p_key;
  IF FOUND THEN
    RETURN QUERY SELECT * FROM ledger_hold_answer(
      CASE WHEN v_found.amount = p_amount AND v_found.description IS NOT DISTINCT FROM p_description
                AND v_found.reference IS NOT DISTINCT FROM p_reference
                AND v_found.expiry_request = p_expiry_request
           THEN 'replayed' ELSE 'idempotency_key_reused' END,
      p_organization_id, v_found.id);
    RETURN;
  END IF;

  -- The wallet row lock, as ledger_spend takes it: spends and holds queue on one lock and read
  -- the same available amount under it.
  SELECT w.id, w.current_balance, w.held_balance, w.ledger_account_id INTO v_wallet
    FROM organization_token_wallets w JOIN organizations o ON o.id = w.organization_id
   WHERE w.organization_id = p_organization_id AND o.is_active FOR UPDATE OF w;
  IF FOUND THEN
    v_available := v_wallet.current_balance - ledger_expired_remainder(v_wallet.id);
    -- A concurrent hold with this key may have committed while this one waited for the row.
    SELECT h.id INTO v_hold FROM token_holds h
     WHERE h.organization_id = p_organization_id AND h.idempotency_key = p_key;
    IF v_hold IS NOT NULL THEN
      RETURN QUERY SELECT * FROM ledger_hold(p_key, p_organization_id, p_amount, p_expires_at,
                                             p_expiry_request, p_description, p_reference,
                                             p_actor_type, p_actor_id, p_ip, p_request_id);
      RETURN;
    END IF;
  END IF;

  IF v_wallet.id IS NULL OR v_available < p_amount THEN
    RETURN QUERY
      SELECT r.status, NULL::bigint, r.wallet_id, NULL::text, p_amount, NULL::numeric,
             NULL::numeric, greatest(r.balance, 0), NULL::numeric, NULL::timestamptz,
             NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::text
        FROM ledger_spend_refusal(p_organization_id, p_amount, v_available) r;
    RETURN;
  END IF;

  v_held_account := ledger_held_account(p_organization_id);
  v_hold := nextval('token_holds_id_seq');
  INSERT INTO ledger_transactions AS t (idempotency_key, kind, wallet_id, amount, description,
                                        reference)
  VALUES ('hold:' || v_hold || ':reserve', 'hold', v_wallet.id, p_amount, p_description,
          p_reference)
  RETURNING t.id INTO v_tx;
  INSERT INTO ledger_entries (transaction_id, account_id, amount)
  VALUES (v_tx, v_wallet.ledger_account_id, -p_amount), (v_tx, v_held_account, p_amount);

  UPDATE organization_token_wallets w
     SET current_balance = w.current_balance - p_amount,
         held_balance = w.held_balance + p_amount, updated_at = now()
   WHERE w.id = v_wallet.id
  RETURNING w.current_balance, w.held_balance INTO v_balance, v_held;

  INSERT INTO token_holds (organization_id, id, wallet_id, idempotency_key, amount, status,
                           description, reference, expires_at, expiry_request,
                           hold_transaction_id)
  VALUES (p_organization_id, v_hold, v_wallet.id, p_key, p_amount, 'active', p_description,
          p_reference, p_expires_at, p_expiry_request, v_tx);

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

  RETURN QUERY SELECT 'applied'::text, v_hold, v_wallet.id, 'active'::text, p_amount,
                      0::numeric, 0::numeric, v_balance, v_held, p_expires_at, now(),
                      NULL::timestamptz, p_description, p_reference;
END $$
"""

LEDGER_HOLD_SETTLE = f"""
CREATE FUNCTION ledger_hold_settle(
  p_organization_id integer, p_hold_id bigint, p_outcome text, p_capture numeric,
  p_actor_type text, p_actor_id text, p_ip text, p_request_id text
) RETURNS TABLE ({HOLD_RESULT}) LANGUAGE plpgsql AS $$
DECLARE
  v_wallet record;
  v_hold record;
  v_capture numeric;
  v_release numeric;
  v_capture_tx bigint;
  v_release_tx bigint;
  v_held_account integer;
  v_balance numeric;
  v_held numeric;
  v_settled timestamptz := now();
BEGIN
  -- p_outcome: 'captured' (p_capture tokens, NULL for all of them; the rest is released),
  -- 'released' or 'expired'. The wallet row lock, as every movement of the wallet takes it (a
  -- hold belongs to its organization's one wallet): every settlement of the organization's
  -- holds queues on it, so a capture and an expiry of one hold are decided here. The first to
  -- commit settles the hold; the other reads it after that commit (a new statement in READ
  -- COMMITTED) and finds it settled. The hold's row needs no lock of its own.
  SELECT w.id, w.ledger_account_id, w.current_balance, w.held_balance, o.is_active INTO v_wallet
    FROM organization_token_wallets w JOIN organizations o ON o.id = w.organization_id
   WHERE w.organization_id = p_organization_id FOR UPDATE OF w;
  SELECT * INTO v_hold FROM token_holds h
   WHERE h.organization_id = p_organization_id AND h.id = p_hold_id;
  IF v_hold.id IS NULL THEN
    RETURN QUERY SELECT 'hold_not_found'::text, p_hold_id, NULL::integer, NULL::text,
                        NULL::numeric, NULL::numeric, NULL::numeric, NULL::numeric,
                        NULL::numeric, NULL::timestamptz, NULL::timestamptz, NULL::timestamptz,
                        NULL::text, NULL::text;
    RETURN;
  END IF;

  IF v_hold.status <> 'active' THEN
    -- Settled before: the same request again is a replay; anything else is refused.
    RETURN QUERY SELECT * FROM ledger_hold_answer(
      CASE WHEN p_outcome = 'captured' AND v_hold.status = 'captured'
                AND v_hold.captured_amount = coalesce(p_capture, v_hold.amount) THEN 'replayed'
           WHEN p_outcome IN ('released', 'expired') AND v_hold.status IN ('released', 'expired')
             THEN 'replayed'
           ELSE 'hold_not_active' END,
      p_organization_id, p_hold_id);
    RETURN;
  END IF;
  IF p_outcome = 'expired' AND v_hold.expires_at > now() THEN
    RETURN QUERY SELECT * FROM ledger_hold_answer('hold_not_expired', p_organization_id,
                                                  p_hold_id);
    RETURN;
  END IF;
  IF p_outcome = 'captured' THEN
    IF v_hold.expires_at <= now() THEN
      RETURN QUERY SELECT * FROM ledger_hold_answer('hold_expired', p_organization_id,
                                                    p_hold_id);
      RETURN;
    END IF;
    IF NOT v_wallet.is_active THEN
      RETURN QUERY SELECT * FROM ledger_hold_answer('organization_inactive', p_organization_id,
                                                    p_hold_id);
      RETURN;
    END IF;
    v_capture := coalesce(p_capture, v_hold.amount);
    IF v_capture > v_hold.amount THEN
      RETURN QUERY SELECT * FROM ledger_hold_answer('capture_exceeds_hold', p_organization_id,
                                                    p_hold_id);
      RETURN;
    END IF;
  ELSE
    v_capture := 0;
  END IF;
  v_release := v_hold.amount - v_capture;
  v_held_account := ledger_held_account(p_organization_id);

  IF v_capture > 0 THEN
    INSERT INTO ledger_transactions AS t (idempotency_key, kind, wallet_id, amount, description,
                                          reference)
    VALUES ('hold:' || p_hold_id || ':capture', 'consumption', v_wallet.id, v_capture,
            v_hold.description, v_hold.reference)
    RETURNING t.id INTO v_capture_tx;
    INSERT INTO ledger_entries (transaction_id, account_id, amount)
    SELECT v_capture_tx, v_held_account, -v_capture
    UNION ALL
    SELECT v_capture_tx, a.id, v_capture FROM ledger_accounts a WHERE a.code = 'system:consumption';
    PERFORM ledger_draw_held_lots(v_wallet.id, v_capture);
    -- The wallet account does not move (the hold took the tokens out of it): the history row
    -- says what was consumed, with the balance before and after unchanged.
    INSERT INTO token_balance_history (wallet_id, organization_id, transaction_id, change_type,
                                       change_amount, balance_before, balance_after,
                                       description, reference)
    VALUES (v_wallet.id, p_organization_id, v_capture_tx, 'hold_capture', -v_capture,
            v_wallet.current_balance, v_wallet.current_balance, v_hold.description,
            v_hold.reference);
  END IF;

  IF v_release > 0 THEN
    INSERT INTO ledger_transactions AS t (idempotency_key, kind, wallet_id, amount, description,
                                          reference)
    VALUES ('hold:' || p_hold_id || ':release', 'hold_release', v_wallet.id, v_release,
            v_hold.description, v_hold.reference)
    RETURNING t.id INTO v_release_tx;
    INSERT INTO ledger_entries (transaction_id, account_id, amount)
    VALUES (v_release_tx, v_held_account, -v_release),
           (v_release_tx, v_wallet.ledger_account_id, v_release);
    INSERT INTO token_balance_history (wallet_id, organization_id, transaction_id, change_type,
                                       change_amount, balance_before, balance_after,
                                       description, reference)
    VALUES (v_wallet.id, p_organization_id, v_release_tx, 'hold_release', v_release,
            v_wallet.current_balance, v_wallet.current_balance + v_release, v_hold.description,
            v_hold.reference);
  END IF;

  -- One new version of the (hot) wallet row for the capture and the release together.
  UPDATE organization_token_wallets w
     SET current_balance = w.current_balance + v_release,
         held_balance = w.held_balance - v_hold.amount,
         total_consumed = w.total_consumed + v_capture, updated_at = now()
   WHERE w.id = v_wallet.id
  RETURNING w.current_balance, w.held_balance INTO v_balance, v_held;

  UPDATE token_holds h
     SET status = CASE WHEN p_outcome = 'captured' THEN 'captured' ELSE p_outcome END,
         captured_amount = v_capture, released_amount = v_release, settled_at = v_settled,
         capture_transaction_id = v_capture_tx, release_transaction_id = v_release_tx
   WHERE h.organization_id = p_organization_id AND h.id = p_hold_id;

  INSERT INTO token_audit_logs (actor_type, actor_id, organization_id, action, target_type,
                                target_id, before, after, ip_address, request_id)
  VALUES (p_actor_type, p_actor_id, p_organization_id,
          CASE p_outcome WHEN 'captured' THEN 'tokens.hold.capture'
                         WHEN 'released' THEN 'tokens.hold.release'
                         ELSE 'tokens.hold.expire' END,
          'token_hold', p_hold_id::text,
          jsonb_build_object('status', 'active', 'amount', trim_scale(v_hold.amount)::text),
          jsonb_build_object('status', p_outcome,
                             'captured', trim_scale(v_capture)::text,
                             'released', trim_scale(v_release)::text,
                             'capture_transaction_id', v_capture_tx,
                             'release_transaction_id', v_release_tx),
          p_ip, p_request_id);

  RETURN QUERY SELECT 'applied'::text, p_hold_id, v_wallet.id, p_outcome, v_hold.amount,
                      v_capture, v_release, v_balance, v_held, v_hold.expires_at,
                      v_hold.created_at, v_settled, v_hold.description, v_hold.reference::text;
END $$
"""

LEDGER_HOLD_CAPTURE_BATCH = f"""
CREATE FUNCTION ledger_hold_capture_batch(
  p_organization_ids integer[], p_hold_ids bigint[], p_amounts numeric[],
  p_actor_type text, p_actor_id text, p_ip text, p_request_id text
) RETURNS TABLE (item integer, {HOLD_RESULT}) LANGUAGE plpgsql AS $$
DECLARE
  v_i integer;
BEGIN
  -- One transaction; wallets are locked in organization order (as ledger_spend_batch does), so
  -- two batches never wait on each other in a cycle.
  FOR v_i IN
    SELECT u.ord FROM unnest(p_organization_ids) WITH ORDINALITY AS u(org, ord)
     ORDER BY u.org, u.ord
  LOOP
    RETURN QUERY SELECT v_i, s.*
      FROM ledger_hold_settle(p_organization_ids[v_i], p_hold_ids[v_i], 'captured',
                              p_amounts[v_i], p_actor_type, p_actor_id, p_ip, p_request_id) s;
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
  SELECT w.current_balance INTO v_balance FROM organization_token_wallets w
   WHERE w.id = v_wallet FOR UPDATE;

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
  IF v_remaining > v_balance THEN
    -- Held tokens need this lot (a hold reserved them while it was valid): a later sweep books
    -- what is left of it once the holds are captured or released.
    RETURN;
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

NEW_FUNCTIONS = (
    ("ledger_draw_held_lots", "integer, numeric", LEDGER_DRAW_HELD_LOTS),
    ("ledger_held_account", "integer", LEDGER_HELD_ACCOUNT),
    ("ledger_hold_answer", "text, integer, bigint", LEDGER_HOLD_ANSWER),
    (
        "ledger_hold",
        "text, integer, numeric, timestamptz, text, text, text, text, text, text, text",
        LEDGER_HOLD,
    ),
    (
        "ledger_hold_settle",
        "integer, bigint, text, numeric, text, text, text, text",
        LEDGER_HOLD_SETTLE,
    ),
    (
        "ledger_hold_capture_batch",
        "integer[], bigint[], numeric[], text, text, text, text",
        LEDGER_HOLD_CAPTURE_BATCH,
    ),
)


def upgrade() -> None:
    op.drop_constraint("ck_account_kind", "ledger_accounts", type_="check")
    op.create_check_constraint(
        "ck_account_kind", "ledger_accounts", "kind IN ('wallet', 'system', 'held')"
    )
    op.drop_constraint(
        "ck_reconciliation_mismatch_kind", "reconciliation_mismatches", type_="check"
    )
    op.create_check_constraint(
        "ck_reconciliation_mismatch_kind", "reconciliation_mismatches", MISMATCH_KINDS_WITH_HOLDS
    )
    op.add_column(
        "organization_token_wallets",
        sa.Column("held_balance", TOKENS, server_default="0", nullable=False),
    )
    op.create_check_constraint(
        "ck_wallet_held_not_negative", "organization_token_wallets", "held_balance >= 0"
    )
    op.create_table(
        "token_holds",
        sa.Column(
            "organization_id", sa.Integer(), sa.ForeignKey("organizations.id"), nullable=False
        ),
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column(
            "wallet_id",
            sa.Integer(),
            sa.ForeignKey("organization_token_wallets.id"),
            nullable=False,
        ),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("amount", TOKENS, nullable=False),
        sa.Column("captured_amount", TOKENS, server_default="0", nullable=False),
        sa.Column("released_amount", TOKENS, server_default="0", nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("reference", sa.String(255), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expiry_request", sa.String(64), nullable=False),
        sa.Column(
            "hold_transaction_id",
            sa.BigInteger(),
            sa.ForeignKey("ledger_transactions.id"),
            nullable=False,
        ),
        sa.Column(
            "capture_transaction_id",
            sa.BigInteger(),
            sa.ForeignKey("ledger_transactions.id"),
            nullable=True,
        ),
        sa.Column(
            "release_transaction_id",
            sa.BigInteger(),
            sa.ForeignKey("ledger_transactions.id"),
            nullable=True,
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("organization_id", "id", name="pk_token_holds"),
        sa.UniqueConstraint("organization_id", "idempotency_key", name="uq_token_holds_key"),
        sa.CheckConstraint("amount > 0", name="ck_hold_amount_positive"),
        sa.CheckConstraint(
            "status IN ('active', 'captured', 'released', 'expired')", name="ck_hold_status"
        ),
        sa.CheckConstraint(
            "(status = 'active' AND captured_amount = 0 AND released_amount = 0) OR "
            "(status <> 'active' AND captured_amount >= 0 AND released_amount >= 0 "
            "AND captured_amount + released_amount = amount)",
            name="ck_hold_settled_in_full",
        ),
        sa.CheckConstraint(
            "status = 'captured' OR captured_amount = 0", name="ck_hold_captured_only_if_captured"
        ),
    )
    op.create_index(
        "idx_token_holds_due", "token_holds", ["expires_at"],
        postgresql_where=sa.text("status = 'active'"),
    )  # fmt: skip
    # The bodies hold ledger keys such as 'hold:<id>:capture', which SQLAlchemy's text() would
    # read as bind parameters: they go to the driver as they are.
    for _name, _signature, body in NEW_FUNCTIONS:
        op.get_bind().exec_driver_sql(body)
    op.execute(LEDGER_EXPIRE_LOT)


def _earlier(module: str, name: str) -> str:
    """A function as an earlier migration defined it, to be put back in place."""
    definitions = runpy.run_path(str(Path(__file__).with_name(module)))
    text: str = definitions[name]
    return text.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def downgrade() -> None:
    op.execute(_earlier("0009_spendable_lots.py", "LEDGER_EXPIRE_LOT"))
    for name, signature, _body in reversed(NEW_FUNCTIONS):
        op.execute(f"DROP FUNCTION {name}({signature})")
    op.drop_table("token_holds")
    op.drop_constraint("ck_wallet_held_not_negative", "organization_token_wallets", type_="check")
    op.drop_column("organization_token_wallets", "held_balance")
    op.drop_constraint("ck_account_kind", "ledger_accounts", type_="check")
    op.create_check_constraint("ck_account_kind", "ledger_accounts", "kind IN ('wallet', 'system')")
    op.drop_constraint(
        "ck_reconciliation_mismatch_kind", "reconciliation_mismatches", type_="check"
    )
    op.create_check_constraint(
        "ck_reconciliation_mismatch_kind", "reconciliation_mismatches", MISMATCH_KINDS
    )
