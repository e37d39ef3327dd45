"""A schema that distributes by organisation (issue 17, part 1).

Every organisation table carries `organization_id` NOT NULL (backfilled from its parent), its
primary key and every unique key include it, and the foreign keys between organisation tables
are composite (id, organization_id): a row and everything it points to live on one shard when
the tables are distributed on `organization_id` (db/distribution/citus.sql). The organisation is
the last column of each key, so a lookup by id or business key alone still finds its index on
one PostgreSQL (on a cluster it is the cross-shard lookup docs/distributed-schema.md lists).
Platform rows of the two tables that also hold them (the outbox and the audit log) are kept
under the reserved key 0, which no organisation has (ids come from a sequence starting at 1).

Every ledger function writes `organization_id` into the rows it inserts and filters every
statement on an organisation table by it: the ones of this change (ledger_post by organisation,
ledger_expire_lot with 0019's hold check, ledger_reverse_lot, ledger_spend_book with 0021's spend
contexts, the spend's helpers keyed by the organisation, the balance check), and the bodies of
later changes re-created with the organisation (ledger_spend and ledger_spend_batch of 0014, the
disputes of 0018, the holds of 0019/0022 including the capture's spend_limit_take, the spend
limit wrappers of 0020): their ON CONFLICT targets include organization_id. The wallet-keyed
helper overloads are dropped, and so is every unique key without the organisation.
See docs/distributed-schema.md for the classification of every table.
"""

import runpy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLATFORM_KEY = 0  # the organisation key of platform rows in the outbox and the audit log
WALLETS = "organization_token_wallets"


@dataclass(frozen=True)
class Fk:
    name: str
    column: str
    parent: str
    parent_column: str = "id"


@dataclass(frozen=True)
class Unique:
    name: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class OrgTable:
    name: str
    # How a table without organization_id fills it: (parent table, the child's column naming it).
    backfill_from: tuple[str, str] | None = None
    platform_rows: bool = False  # NULL organisation rows become PLATFORM_KEY
    pk_extra: tuple[str, ...] = ()  # partition key columns
    uniques: tuple[Unique, ...] = ()
    fks: tuple[Fk, ...] = ()
    append_only: bool = False
    drop_org_fk: str | None = None  # a FK to organizations that platform rows cannot keep


ORG_TABLES: tuple[OrgTable, ...] = (
    OrgTable(
        WALLETS,
        uniques=(
            Unique("organization_token_wallets_ledger_account_id_key", ("ledger_account_id",)),
        ),
    ),
    OrgTable(
        "ledger_transactions",
        backfill_from=(WALLETS, "wallet_id"),
        uniques=(Unique("ledger_transactions_idempotency_key_key", ("idempotency_key",)),),
        fks=(Fk("ledger_transactions_wallet_id_fkey", "wallet_id", WALLETS),),
        append_only=True,
    ),
    OrgTable(
        "ledger_entries",
        backfill_from=("ledger_transactions", "transaction_id"),
        fks=(Fk("ledger_entries_transaction_id_fkey", "transaction_id", "ledger_transactions"),),
        append_only=True,
    ),
    OrgTable(
        "token_lots",
        backfill_from=(WALLETS, "wallet_id"),
        uniques=(Unique("token_lots_transaction_id_key", ("transaction_id",)),),
        fks=(
            Fk("token_lots_wallet_id_fkey", "wallet_id", WALLETS),
            Fk("token_lots_transaction_id_fkey", "transaction_id", "ledger_transactions"),
        ),
    ),
    OrgTable(
        "token_balance_history",
        uniques=(Unique("token_balance_history_transaction_id_key", ("transaction_id",)),),
        fks=(
            Fk("token_balance_history_wallet_id_fkey", "wallet_id", WALLETS),
            Fk(
                "token_balance_history_transaction_id_fkey", "transaction_id", "ledger_transactions"
            ),
        ),
        append_only=True,
    ),
    OrgTable(
        "token_subscriptions",
        fks=(Fk("token_subscriptions_wallet_id_fkey", "wallet_id", WALLETS),),
    ),
    OrgTable(
        "invoices",
        uniques=(
            Unique("invoices_idempotency_key_key", ("idempotency_key",)),
            Unique("invoices_invoice_number_key", ("invoice_number",)),
        ),
        fks=(Fk("invoices_subscription_id_fkey", "subscription_id", "token_subscriptions"),),
    ),
    OrgTable(
        "invoice_lines",
        backfill_from=("invoices", "invoice_id"),
        fks=(Fk("invoice_lines_invoice_id_fkey", "invoice_id", "invoices"),),
    ),
    OrgTable(
        "token_purchases",
        uniques=(Unique("token_purchases_purchase_reference_id_key", ("purchase_reference_id",)),),
        fks=(
            Fk("token_purchases_wallet_id_fkey", "wallet_id", WALLETS),
            Fk("token_purchases_invoice_id_fkey", "invoice_id", "invoices"),
            Fk("token_purchases_subscription_id_fkey", "subscription_id", "token_subscriptions"),
        ),
    ),
    OrgTable(
        "notification_events",
        platform_rows=True,
        drop_org_fk="notification_events_organization_id_fkey",
        uniques=(Unique("notification_events_idempotency_key_key", ("idempotency_key",)),),
        fks=(Fk("notification_events_wallet_id_fkey", "wallet_id", WALLETS),),
    ),
    OrgTable(
        "low_balance_notifications",
        fks=(Fk("low_balance_notifications_wallet_id_fkey", "wallet_id", WALLETS),),
    ),
    OrgTable("webhook_endpoints"),
    OrgTable(
        "webhook_deliveries",
        uniques=(Unique("uq_webhook_delivery_endpoint_event", ("endpoint_id", "event_id")),),
        fks=(
            Fk("webhook_deliveries_endpoint_id_fkey", "endpoint_id", "webhook_endpoints"),
            Fk("webhook_deliveries_event_id_fkey", "event_id", "notification_events"),
        ),
    ),
    OrgTable(
        "webhook_delivery_attempts",
        backfill_from=("webhook_deliveries", "delivery_id"),
        fks=(
            Fk("webhook_delivery_attempts_delivery_id_fkey", "delivery_id", "webhook_deliveries"),
        ),
    ),
    OrgTable(
        "token_usage_forecasts",
        uniques=(Unique("uq_usage_forecast_wallet_date", ("wallet_id", "forecast_date")),),
        fks=(Fk("token_usage_forecasts_wallet_id_fkey", "wallet_id", WALLETS),),
    ),
    OrgTable(
        "auto_topup_policies",
        uniques=(Unique("auto_topup_policies_wallet_id_key", ("wallet_id",)),),
        fks=(Fk("auto_topup_policies_wallet_id_fkey", "wallet_id", WALLETS),),
    ),
    OrgTable(
        "auto_topups",
        uniques=(Unique("auto_topups_idempotency_key_key", ("idempotency_key",)),),
        fks=(Fk("auto_topups_wallet_id_fkey", "wallet_id", WALLETS),),
    ),
    OrgTable("token_audit_logs", platform_rows=True, pk_extra=("created_at",)),
)


def _cols(*columns: str) -> str:
    return ", ".join(columns)


def _by_name() -> dict[str, OrgTable]:
    return {t.name: t for t in ORG_TABLES}


# Foreign keys this migration does not list (tables of other changes) that point at an
# organisation table's id: dropped before its key changes and made composite after.
OTHER_FOREIGN_KEYS = """
SELECT c.conname AS name, c.conrelid::regclass::text AS child,
       c.confrelid::regclass::text AS parent,
       (SELECT array_agg(a.attname::text ORDER BY k.ord)
          FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) AS columns,
       (SELECT array_agg(a.attname::text ORDER BY k.ord)
          FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum)
         AS parent_columns,
       EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.conrelid
               AND a.attname = 'organization_id' AND NOT a.attisdropped) AS child_has_organization
  FROM pg_constraint c
 WHERE c.contype = 'f' AND c.conparentid = 0 AND c.connamespace = 'public'::regnamespace
   AND c.confrelid::regclass::text = ANY (:parents) AND NOT (c.conname = ANY (:known))
"""


@dataclass(frozen=True)
class OtherFk:
    name: str
    child: str
    parent: str
    columns: tuple[str, ...]
    parent_columns: tuple[str, ...]
    child_has_organization: bool


def _known_foreign_keys() -> list[str]:
    return [fk.name for t in ORG_TABLES for fk in t.fks] + [
        "reconciliation_mismatches_wallet_id_fkey"
    ]


def _other_foreign_keys(parent_columns: tuple[str, ...]) -> list[OtherFk]:
    rows = op.get_bind().execute(
        sa.text(OTHER_FOREIGN_KEYS),
        {"parents": [t.name for t in ORG_TABLES], "known": _known_foreign_keys()},
    )
    found = [
        OtherFk(r.name, r.child, r.parent, tuple(r.columns), tuple(r.parent_columns),
                r.child_has_organization)
        for r in rows
    ]  # fmt: skip
    return [fk for fk in found if fk.parent_columns == parent_columns]


def upgrade() -> None:
    others = _other_foreign_keys(("id",))
    for other in others:
        if not other.child_has_organization:
            raise RuntimeError(
                f"{other.child} points at {other.parent} but has no organization_id: "
                "classify it (docs/distributed-schema.md) before this migration"
            )
        op.execute(f"ALTER TABLE {other.child} DROP CONSTRAINT {other.name}")
    # 1. Drop what points at an organisation table by its id alone, children first.
    for table in reversed(ORG_TABLES):
        for fk in table.fks:
            op.execute(f"ALTER TABLE {table.name} DROP CONSTRAINT {fk.name}")
    op.execute(
        "ALTER TABLE reconciliation_mismatches "
        "DROP CONSTRAINT reconciliation_mismatches_wallet_id_fkey"
    )
    # 2. The column, filled from the parent (parents come first in ORG_TABLES).
    for table in ORG_TABLES:
        if table.append_only:
            op.execute(f"ALTER TABLE {table.name} DISABLE TRIGGER {table.name}_append_only")
        if table.backfill_from is not None:
            parent, column = table.backfill_from
            op.execute(f"ALTER TABLE {table.name} ADD COLUMN organization_id integer")
            op.execute(
                f"UPDATE {table.name} c SET organization_id = p.organization_id "
                f"FROM {parent} p WHERE p.id = c.{column}"
            )
        if table.drop_org_fk is not None:
            op.execute(f"ALTER TABLE {table.name} DROP CONSTRAINT {table.drop_org_fk}")
        if table.platform_rows:
            op.execute(
                f"UPDATE {table.name} SET organization_id = {PLATFORM_KEY} "
                "WHERE organization_id IS NULL"
            )
        op.execute(f"ALTER TABLE {table.name} ALTER COLUMN organization_id SET NOT NULL")
        if table.append_only:
            op.execute(f"ALTER TABLE {table.name} ENABLE TRIGGER {table.name}_append_only")
    op.execute(
        f"ALTER TABLE token_audit_logs ALTER COLUMN organization_id SET DEFAULT {PLATFORM_KEY}"
    )
    # 3. Keys that include the organisation (last, so lookups by id keep their index).
    for table in ORG_TABLES:
        for unique in table.uniques:
            op.execute(f"ALTER TABLE {table.name} DROP CONSTRAINT IF EXISTS {unique.name}")
        op.execute(f"ALTER TABLE {table.name} DROP CONSTRAINT {table.name}_pkey")
        op.execute(
            f"ALTER TABLE {table.name} ADD CONSTRAINT {table.name}_pkey "
            f"PRIMARY KEY ({_cols('id', *table.pk_extra, 'organization_id')})"
        )
        for unique in table.uniques:
            op.execute(
                f"ALTER TABLE {table.name} ADD CONSTRAINT {_org_unique_name(table, unique)} "
                f"UNIQUE ({_cols(*unique.columns, 'organization_id')})"
            )
    # 4. Composite foreign keys.
    for table in ORG_TABLES:
        for fk in table.fks:
            op.execute(
                f"ALTER TABLE {table.name} ADD CONSTRAINT {fk.name} "
                f"FOREIGN KEY ({fk.column}, organization_id) "
                f"REFERENCES {fk.parent} ({fk.parent_column}, organization_id)"
            )
    for other in others:
        op.execute(
            f"ALTER TABLE {other.child} ADD CONSTRAINT {other.name} "
            f"FOREIGN KEY ({_cols(*other.columns, 'organization_id')}) "
            f"REFERENCES {other.parent} (id, organization_id)"
        )
    for statement in (*FUNCTIONS, *ORGANISATION_HELPERS):
        op.execute(statement)
    _spend_functions_with_organisation()


def _org_unique_name(table: OrgTable, unique: Unique) -> str:
    return f"uq_{table.name}_org_{'_'.join(unique.columns)}"[:63]


FUNCTIONS = (
    """
    CREATE OR REPLACE FUNCTION check_ledger_transaction_balanced() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE total numeric;
    BEGIN
      SELECT sum(amount) INTO total FROM ledger_entries
        WHERE organization_id = NEW.organization_id AND transaction_id = NEW.transaction_id;
      IF total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % does not balance (sum %)',
          NEW.transaction_id, total USING ERRCODE = 'check_violation';
      END IF;
      RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION ledger_post(
      p_organization_id integer, p_key text, p_kind text, p_wallet_id integer,
      p_delta numeric, p_system_account text, p_description text, p_reference text,
      p_expires_at timestamptz
    ) RETURNS TABLE (
      transaction_id bigint, kind text, wallet_id integer, amount numeric,
      balance_after numeric, created_at timestamptz, replayed boolean
    ) LANGUAGE plpgsql AS $$
    DECLARE
      v_amount numeric := abs(p_delta);
      v_id bigint;
      v_created timestamptz;
      v_balance numeric;
      v_org integer := p_organization_id;
      v_account integer;
    BEGIN
      -- Every statement below is on the wallet's organisation.
      PERFORM 1 FROM organization_token_wallets w
        WHERE w.organization_id = v_org AND w.id = p_wallet_id;
      IF NOT FOUND THEN
        RAISE EXCEPTION 'wallet % does not exist', p_wallet_id USING ERRCODE = 'TB002';
      END IF;

      INSERT INTO ledger_transactions AS t (organization_id, idempotency_key, kind, wallet_id,
                                            amount, description, reference)
      VALUES (v_org, p_key, p_kind, p_wallet_id, v_amount, p_description, p_reference)
      ON CONFLICT (organization_id, idempotency_key) DO NOTHING
      RETURNING t.id, t.created_at INTO v_id, v_created;

      IF v_id IS NULL THEN
        RETURN QUERY
          SELECT t.id, t.kind::text, t.wallet_id, t.amount, h.balance_after, t.created_at, true
          FROM ledger_transactions t
          JOIN token_balance_history h
            ON h.organization_id = t.organization_id AND h.transaction_id = t.id
          WHERE t.organization_id = v_org AND t.idempotency_key = p_key;
        RETURN;
      END IF;

      IF p_delta > 0 THEN
        UPDATE organization_token_wallets w
           SET current_balance = w.current_balance + v_amount,
               total_purchased = w.total_purchased
                 + CASE WHEN p_kind = 'purchase' THEN v_amount ELSE 0 END,
               updated_at = now()
         WHERE w.organization_id = v_org AND w.id = p_wallet_id
        RETURNING w.current_balance, w.ledger_account_id INTO v_balance, v_account;
      ELSE
        -- The conditional UPDATE decides and locks the wallet row: concurrent spends queue here.
        UPDATE organization_token_wallets w
           SET current_balance = w.current_balance - v_amount,
               total_consumed = w.total_consumed
                 + CASE WHEN p_kind = 'consumption' THEN v_amount ELSE 0 END,
               updated_at = now()
         WHERE w.organization_id = v_org AND w.id = p_wallet_id
           AND w.current_balance >= v_amount
        RETURNING w.current_balance, w.ledger_account_id INTO v_balance, v_account;
        IF NOT FOUND THEN
          SELECT w.current_balance INTO v_balance
            FROM organization_token_wallets w
           WHERE w.organization_id = v_org AND w.id = p_wallet_id;
          RAISE EXCEPTION 'insufficient balance' USING ERRCODE = 'TB001',
            DETAIL = v_balance::text;
        END IF;
      END IF;

      -- The system account gets an entry on this organisation's shard, never a balance update.
      INSERT INTO ledger_entries (organization_id, transaction_id, account_id, amount)
      SELECT v_org, v_id, v_account, p_delta
      UNION ALL
      SELECT v_org, v_id, a.id, -p_delta FROM ledger_accounts a WHERE a.code = p_system_account;

      IF p_delta > 0 THEN
        INSERT INTO token_lots (organization_id, wallet_id, transaction_id, original_amount,
                                remaining_amount, expires_at)
        VALUES (v_org, p_wallet_id, v_id, v_amount, v_amount, p_expires_at);
      ELSE
        -- First to expire first (no expiry last), then oldest first.
        WITH ordered AS (
          SELECT l.id, l.remaining_amount,
                 sum(l.remaining_amount) OVER (
                   ORDER BY l.expires_at ASC NULLS LAST, l.created_at, l.id) AS running
            FROM token_lots l
           WHERE l.organization_id = v_org AND l.wallet_id = p_wallet_id
             AND l.remaining_amount > 0
        ), taken AS (
          SELECT o.id,
                 LEAST(o.remaining_amount, v_amount - (o.running - o.remaining_amount)) AS take
            FROM ordered o WHERE o.running - o.remaining_amount < v_amount
        )
        UPDATE token_lots l SET remaining_amount = l.remaining_amount - taken.take
          FROM taken WHERE l.organization_id = v_org AND l.id = taken.id;
      END IF;

      INSERT INTO token_balance_history (wallet_id, organization_id, transaction_id,
                                         change_type, change_amount, balance_before,
                                         balance_after, description, reference)
      VALUES (p_wallet_id, v_org, v_id, p_kind, p_delta, v_balance - p_delta, v_balance,
              p_description, p_reference);

      RETURN QUERY SELECT v_id, p_kind, p_wallet_id, v_amount, v_balance, v_created, false;
    END $$
    """,
    # By wallet alone: finds the wallet's organisation (a lookup by id on every shard when
    # distributed), then posts there. db/ledger.py names the organisation when it has it.
    """
    CREATE OR REPLACE FUNCTION ledger_post(
      p_key text, p_kind text, p_wallet_id integer, p_delta numeric, p_system_account text,
      p_description text, p_reference text, p_expires_at timestamptz
    ) RETURNS TABLE (
      transaction_id bigint, kind text, wallet_id integer, amount numeric,
      balance_after numeric, created_at timestamptz, replayed boolean
    ) LANGUAGE plpgsql AS $$
    DECLARE
      v_org integer;
    BEGIN
      SELECT w.organization_id INTO v_org FROM organization_token_wallets w
       WHERE w.id = p_wallet_id;
      IF v_org IS NULL THEN
        RAISE EXCEPTION 'wallet % does not exist', p_wallet_id USING ERRCODE = 'TB002';
      END IF;
      RETURN QUERY SELECT * FROM ledger_post(v_org, p_key, p_kind, p_wallet_id, p_delta,
                                             p_system_account, p_description, p_reference,
                                             p_expires_at);
    END $$
    """,
    """
    CREATE OR REPLACE FUNCTION ledger_spend_book(
      p_id bigint, p_key text, p_wallet_id integer, p_account_id integer,
      p_organization_id integer, p_amount numeric, p_before numeric, p_after numeric,
      p_description text, p_reference text, p_low numeric, p_critical numeric, p_topup numeric,
      p_actor_type text, p_actor_id text, p_ip text, p_request_id text
    ) RETURNS integer LANGUAGE plpgsql AS $$
    DECLARE
      v_events integer := 0;
      v_notification bigint;
      v_level record;
      v_own jsonb;
    BEGIN
      -- A coalesced group of single spends shares one ledger_spend_batch call: each spend's own
      -- caller and request come in the transaction's tokenbill.spend_contexts, by ledger key
      -- (0021_coalesced_spend_contexts).
      v_own := nullif(current_setting('tokenbill.spend_contexts', true), '')::jsonb -> p_key;
      IF v_own IS NOT NULL THEN
        p_actor_type := v_own ->> 0;
        p_actor_id := v_own ->> 1;
        p_ip := v_own ->> 2;
        p_request_id := v_own ->> 3;
      END IF;

      INSERT INTO ledger_entries (organization_id, transaction_id, account_id, amount)
      SELECT p_organization_id, p_id, p_account_id, -p_amount
      UNION ALL
      SELECT p_organization_id, p_id, a.id, p_amount
        FROM ledger_accounts a WHERE a.code = 'system:consumption';

      INSERT INTO token_balance_history (wallet_id, organization_id, transaction_id,
                                         change_type, change_amount, balance_before,
                                         balance_after, description, reference)
      VALUES (p_wallet_id, p_organization_id, p_id, 'consumption', -p_amount, p_before, p_after,
              p_description, p_reference);

      INSERT INTO token_audit_logs (actor_type, actor_id, organization_id, action, target_type,
                                    target_id, after, ip_address, request_id)
      VALUES (p_actor_type, p_actor_id, p_organization_id, 'tokens.consume',
              'ledger_transaction', p_id::text,
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
        INSERT INTO low_balance_notifications (wallet_id, organization_id, level, threshold,
                                               balance)
        VALUES (p_wallet_id, p_organization_id, v_level.level, v_level.threshold, p_after)
        RETURNING id INTO v_notification;
        INSERT INTO notification_events (idempotency_key, organization_id, wallet_id,
                                         event_type, severity, payload)
        VALUES ('balance_' || v_level.level || ':' || p_wallet_id || ':' || p_id,
                p_organization_id, p_wallet_id, v_level.event_type, v_level.severity,
                jsonb_build_object(
                  'wallet_id', p_wallet_id, 'organization_id', p_organization_id,
                  'level', v_level.level, 'threshold', trim_scale(v_level.threshold)::text,
                  'balance', trim_scale(p_after)::text,
                  'balance_before', trim_scale(p_before)::text,
                  'transaction_id', p_id, 'notification_id', v_notification));
        v_events := v_events + 1;
      END LOOP;

      IF p_topup IS NOT NULL AND p_before >= p_topup AND p_topup > p_after THEN
        INSERT INTO notification_events (idempotency_key, organization_id, wallet_id,
                                         event_type, severity, payload)
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
    """,
    """
    CREATE OR REPLACE FUNCTION ledger_expire_lot(p_key text, p_lot_id bigint, p_description text)
    RETURNS TABLE (
      transaction_id bigint, kind text, wallet_id integer, amount numeric,
      balance_after numeric, created_at timestamptz, replayed boolean
    ) LANGUAGE plpgsql AS $$
    DECLARE
      v_wallet integer;
      v_org integer;
      v_expires timestamptz;
      v_remaining numeric;
      v_id bigint;
      v_created timestamptz;
      v_balance numeric;
      v_account integer;
    BEGIN
      SELECT l.wallet_id, l.organization_id, l.expires_at INTO v_wallet, v_org, v_expires
        FROM token_lots l WHERE l.id = p_lot_id;
      IF NOT FOUND THEN
        RAISE EXCEPTION 'lot % does not exist', p_lot_id USING ERRCODE = 'TB003';
      END IF;
      -- A lot's expiry never changes, so this holds for the rest of the call.
      IF v_expires IS NULL OR v_expires > now() THEN
        RAISE EXCEPTION 'lot % has not expired', p_lot_id USING ERRCODE = 'TB004',
          DETAIL = coalesce(v_expires::text, 'no expiry');
      END IF;
      -- Wallet row first, like ledger_post and ledger_spend: the lot cannot change meanwhile.
      SELECT w.current_balance INTO v_balance FROM organization_token_wallets w
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
       WHERE l.organization_id = v_org AND l.id = p_lot_id;
      IF v_remaining = 0 THEN
        RETURN;  -- spent in full before it expired: nothing to post
      END IF;
      IF v_remaining > v_balance THEN
        -- Held tokens need this lot (a hold reserved them while it was valid): a later sweep
        -- books what is left of it once the holds are captured or released (0019).
        RETURN;
      END IF;

      INSERT INTO ledger_transactions AS t (organization_id, idempotency_key, kind, wallet_id,
                                            amount, description, reference)
      VALUES (v_org, p_key, 'expiry', v_wallet, v_remaining, p_description, 'lot:' || p_lot_id)
      RETURNING t.id, t.created_at INTO v_id, v_created;

      UPDATE organization_token_wallets w
         SET current_balance = w.current_balance - v_remaining, updated_at = now()
       WHERE w.organization_id = v_org AND w.id = v_wallet
      RETURNING w.current_balance, w.ledger_account_id INTO v_balance, v_account;

      INSERT INTO ledger_entries (organization_id, transaction_id, account_id, amount)
      SELECT v_org, v_id, v_account, -v_remaining
      UNION ALL
      SELECT v_org, v_id, a.id, v_remaining FROM ledger_accounts a WHERE a.code = 'system:expiry';

      UPDATE token_lots l SET remaining_amount = 0
       WHERE l.organization_id = v_org AND l.id = p_lot_id;

      INSERT INTO token_balance_history (wallet_id, organization_id, transaction_id,
                                         change_type, change_amount, balance_before,
                                         balance_after, description, reference)
      VALUES (v_wallet, v_org, v_id, 'expiry', -v_remaining, v_balance + v_remaining, v_balance,
              p_description, 'lot:' || p_lot_id);

      RETURN QUERY SELECT v_id, 'expiry'::text, v_wallet, v_remaining, v_balance, v_created,
                          false;
    END $$
    """,
    """
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
      PERFORM 1 FROM organization_token_wallets w
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
    """,
)


# The spend's helpers keyed by the organisation, for ledger_spend and ledger_spend_batch to call
# once they name it (docs/distributed-schema.md): every statement then filters by it, so a
# spend delegated to the node of its organisation's shard never leaves it. The wallet-keyed
# versions above stay until then.
ORGANISATION_HELPERS = (
    """
    CREATE FUNCTION ledger_spend_replay(
      p_organization_id integer, p_key text, p_amount numeric, p_description text,
      p_reference text
    ) RETURNS TABLE (
      status text, transaction_id bigint, wallet_id integer, amount numeric, balance numeric,
      created_at timestamptz, events integer
    ) LANGUAGE sql STABLE AS $$
      SELECT CASE WHEN t.kind = 'consumption' AND t.amount = p_amount
                       AND t.description IS NOT DISTINCT FROM p_description
                       AND t.reference IS NOT DISTINCT FROM p_reference
                  THEN 'replayed' ELSE 'idempotency_key_reused' END,
             t.id, t.wallet_id, t.amount, h.balance_after, t.created_at, 0
        FROM ledger_transactions t
        JOIN token_balance_history h
          ON h.organization_id = t.organization_id AND h.transaction_id = t.id
       WHERE t.organization_id = p_organization_id AND t.idempotency_key = p_key
    $$
    """,
    """
    CREATE FUNCTION ledger_expired_remainder(p_organization_id integer, p_wallet_id integer)
    RETURNS numeric LANGUAGE sql STABLE AS $$
      SELECT coalesce(sum(l.remaining_amount), 0) FROM token_lots l
       WHERE l.organization_id = p_organization_id AND l.wallet_id = p_wallet_id
         AND l.remaining_amount > 0 AND l.expires_at <= now()
    $$
    """,
    """
    CREATE FUNCTION ledger_draw_lots(
      p_organization_id integer, p_wallet_id integer, p_amount numeric
    ) RETURNS void LANGUAGE sql AS $$
      WITH ordered AS (
        SELECT l.id, l.remaining_amount,
               sum(l.remaining_amount) OVER (
                 ORDER BY l.expires_at ASC NULLS LAST, l.created_at, l.id) AS running
          FROM token_lots l
         WHERE l.organization_id = p_organization_id AND l.wallet_id = p_wallet_id
           AND l.remaining_amount > 0 AND (l.expires_at IS NULL OR l.expires_at > now())
      ), taken AS (
        SELECT o.id,
               LEAST(o.remaining_amount, p_amount - (o.running - o.remaining_amount)) AS take
          FROM ordered o WHERE o.running - o.remaining_amount < p_amount
      )
      UPDATE token_lots l SET remaining_amount = l.remaining_amount - taken.take
        FROM taken WHERE l.organization_id = p_organization_id AND l.id = taken.id
    $$
    """,
    """
    CREATE FUNCTION ledger_topup_threshold(
      p_organization_id integer, p_wallet_id integer, p_enabled boolean
    ) RETURNS numeric LANGUAGE sql STABLE AS $$
      SELECT p.threshold FROM auto_topup_policies p
       WHERE p_enabled AND p.organization_id = p_organization_id AND p.wallet_id = p_wallet_id
         AND p.enabled AND p.status = 'active' AND p.threshold IS NOT NULL
    $$
    """,
)
ORGANISATION_HELPER_SIGNATURES = (
    "ledger_post(integer, text, text, integer, numeric, text, text, text, timestamptz)",
    "ledger_spend_replay(integer, text, numeric, text, text)",
    "ledger_expired_remainder(integer, integer)",
    "ledger_draw_lots(integer, integer, numeric)",
    "ledger_topup_threshold(integer, integer, boolean)",
)


def downgrade() -> None:
    others = _other_foreign_keys(("id", "organization_id"))
    for other in others:
        op.execute(f"ALTER TABLE {other.child} DROP CONSTRAINT {other.name}")
    for signature in ORGANISATION_HELPER_SIGNATURES:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    # The function bodies of 0016 (their statements work with or without the column).
    _restore_functions()
    _spend_functions_without_organisation()
    for table in reversed(ORG_TABLES):
        for fk in table.fks:
            op.execute(f"ALTER TABLE {table.name} DROP CONSTRAINT {fk.name}")
    for table in ORG_TABLES:
        for unique in table.uniques:
            op.execute(
                f"ALTER TABLE {table.name} DROP CONSTRAINT {_org_unique_name(table, unique)}"
            )
            op.execute(
                f"ALTER TABLE {table.name} ADD CONSTRAINT {unique.name} "
                f"UNIQUE ({_cols(*unique.columns)})"
            )
        op.execute(f"ALTER TABLE {table.name} DROP CONSTRAINT {table.name}_pkey")
        op.execute(
            f"ALTER TABLE {table.name} ADD CONSTRAINT {table.name}_pkey "
            f"PRIMARY KEY ({_cols('id', *table.pk_extra)})"
        )
    for table in ORG_TABLES:
        for fk in table.fks:
            op.execute(
                f"ALTER TABLE {table.name} ADD CONSTRAINT {fk.name} "
                f"FOREIGN KEY ({fk.column}) REFERENCES {fk.parent} ({fk.parent_column})"
            )
    for other in others:
        op.execute(
            f"ALTER TABLE {other.child} ADD CONSTRAINT {other.name} "
            f"FOREIGN KEY ({other.columns[0]}) REFERENCES {other.parent} (id)"
        )
    op.execute(
        "ALTER TABLE reconciliation_mismatches ADD CONSTRAINT "
        f"reconciliation_mismatches_wallet_id_fkey FOREIGN KEY (wallet_id) REFERENCES {WALLETS}(id)"
    )
    op.execute("ALTER TABLE token_audit_logs ALTER COLUMN organization_id DROP DEFAULT")
    for table in ORG_TABLES:
        if table.backfill_from is not None:
            op.execute(f"ALTER TABLE {table.name} DROP COLUMN organization_id")
            continue
        if table.platform_rows:
            op.execute(f"ALTER TABLE {table.name} ALTER COLUMN organization_id DROP NOT NULL")
            if table.append_only:
                op.execute(f"ALTER TABLE {table.name} DISABLE TRIGGER {table.name}_append_only")
            op.execute(
                f"UPDATE {table.name} SET organization_id = NULL "
                f"WHERE organization_id = {PLATFORM_KEY}"
            )
        if table.drop_org_fk is not None:
            op.execute(
                f"ALTER TABLE {table.name} ADD CONSTRAINT {table.drop_org_fk} "
                "FOREIGN KEY (organization_id) REFERENCES organizations(id)"
            )


def _restore_functions() -> None:
    """The previous bodies, read from the migrations that wrote them last."""
    versions = Path(__file__).parent
    for name, attributes in PREVIOUS_FUNCTIONS:
        module = runpy.run_path(str(versions / name))
        for attribute in attributes:
            op.execute(
                module[attribute].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
            )
    op.execute(
        """
        CREATE OR REPLACE FUNCTION check_ledger_transaction_balanced() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE total numeric;
        BEGIN
          SELECT sum(amount) INTO total FROM ledger_entries
            WHERE transaction_id = NEW.transaction_id;
          IF total <> 0 THEN
            RAISE EXCEPTION 'ledger transaction % does not balance (sum %)',
              NEW.transaction_id, total USING ERRCODE = 'check_violation';
          END IF;
          RETURN NULL;
        END $$
        """
    )


PREVIOUS_FUNCTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("0003_ledger_post_function.py", ("LEDGER_POST",)),
    ("0005_spending.py", ("LEDGER_SPEND_BOOK", "LEDGER_SPEND_REPLAY")),
    ("0006_auto_topup.py", ("TOPUP_THRESHOLD_OF_ACTIVE_POLICY",)),
    (
        "0009_spendable_lots.py",
        ("LEDGER_EXPIRED_REMAINDER", "LEDGER_DRAW_LOTS", "LEDGER_EXPIRE_LOT"),
    ),
    ("0012_purchase_reversal.py", ("LEDGER_REVERSE_LOT",)),
    ("0019_token_holds.py", ("LEDGER_EXPIRE_LOT",)),
    ("0021_coalesced_spend_contexts.py", ("LEDGER_SPEND_BOOK",)),
)


# The functions of later changes (0014's spend, 0018's disputes, 0019's and 0022's holds, 0020's
# spend limits), re-created with the organisation: each is the body its migration wrote, with the
# edits listed here (old text -> new text; every old text must be found, so a body that is not
# the one expected stops the migration instead of being half edited).
Edit = tuple[str, str]

TX_COLUMNS: Edit = (
    "INSERT INTO ledger_transactions AS t (idempotency_key,",
    "INSERT INTO ledger_transactions AS t (organization_id, idempotency_key,",
)
ENTRY_COLUMNS: Edit = (
    "INSERT INTO ledger_entries (transaction_id,",
    "INSERT INTO ledger_entries (organization_id, transaction_id,",
)
DISPUTE_EDITS: tuple[Edit, ...] = (
    ("PERFORM 1 FROM organization_token_wallets w WHERE w.id = v_wallet FOR UPDATE;",
     "PERFORM 1 FROM organization_token_wallets w\n"
     "   WHERE w.organization_id = v_org AND w.id = v_wallet FOR UPDATE;"),
    ("WHERE t.idempotency_key = p_key;",
     "WHERE t.organization_id = v_org AND t.idempotency_key = p_key;"),
    TX_COLUMNS,
    ("VALUES (p_key, '", "VALUES (v_org, p_key, '"),
    ENTRY_COLUMNS,
    ("  SELECT v_id,", "  SELECT v_org, v_id,"),
)  # fmt: skip
DISPUTE_REPLAY_JOIN: Edit = (
    "FROM ledger_transactions t JOIN token_balance_history h ON h.transaction_id = t.id",
    "FROM ledger_transactions t\n    JOIN token_balance_history h\n"
    "      ON h.organization_id = t.organization_id AND h.transaction_id = t.id",
)
DISPUTE_WALLET_UPDATE: Edit = (
    "   WHERE w.id = v_wallet\n  RETURNING w.current_balance, w.organization_id, "
    "w.ledger_account_id\n    INTO v_balance, v_org, v_account;",
    "   WHERE w.organization_id = v_org AND w.id = v_wallet\n"
    "  RETURNING w.current_balance, w.ledger_account_id INTO v_balance, v_account;",
)
DISPUTE_LOT: Edit = ("WHERE l.id = v_lot;", "WHERE l.organization_id = v_org AND l.id = v_lot;")
FREEZE_KEY: Edit = (
    "SELECT f.wallet_id, f.amount INTO v_wallet, v_amount\n",
    "SELECT f.wallet_id, f.organization_id, f.amount INTO v_wallet, v_org, v_amount\n",
)
HOLD_EDITS: tuple[Edit, ...] = (
    TX_COLUMNS,
    ("VALUES ('hold:' ||", "VALUES (p_organization_id, 'hold:' ||"),
    ENTRY_COLUMNS,
    ("WHERE w.id = v_wallet.id\n",
     "WHERE w.organization_id = p_organization_id AND w.id = v_wallet.id\n"),
)  # fmt: skip

SPEND_EDITS: dict[str, tuple[Edit, ...]] = {
    "LEDGER_SPEND": (
        ("ledger_spend_replay(p_key,", "ledger_spend_replay(p_organization_id, p_key,"),
        ("ledger_expired_remainder(v_wallet)",
         "ledger_expired_remainder(p_organization_id, v_wallet)"),
        TX_COLUMNS,
        ("VALUES (p_key, 'consumption'", "VALUES (p_organization_id, p_key, 'consumption'"),
        ("ON CONFLICT (idempotency_key) DO NOTHING",
         "ON CONFLICT (idempotency_key, organization_id) DO NOTHING"),
        ("   WHERE w.id = v_wallet\n",
         "   WHERE w.organization_id = p_organization_id AND w.id = v_wallet\n"),
        ("ledger_draw_lots(v_wallet, p_amount)",
         "ledger_draw_lots(p_organization_id, v_wallet, p_amount)"),
        ("ledger_topup_threshold(v_wallet, p_auto_topup)",
         "ledger_topup_threshold(p_organization_id, v_wallet, p_auto_topup)"),
    ),
    "LEDGER_SPEND_BATCH": (
        ("ledger_expired_remainder(v_wallet.id)", "ledger_expired_remainder(v_org, v_wallet.id)"),
        ("ledger_topup_threshold(v_wallet.id,", "ledger_topup_threshold(v_org, v_wallet.id,"),
        ("FROM ledger_spend_replay(p_keys[v_i],", "FROM ledger_spend_replay(v_org, p_keys[v_i],"),
        TX_COLUMNS,
        ("VALUES (p_keys[v_i], 'consumption'", "VALUES (v_org, p_keys[v_i], 'consumption'"),
        ("WHERE w.id = v_wallet.id;", "WHERE w.organization_id = v_org AND w.id = v_wallet.id;"),
        ("ledger_draw_lots(v_wallet.id, v_spent)", "ledger_draw_lots(v_org, v_wallet.id, v_spent)"),
    ),
    "LEDGER_DISPUTE_FREEZE": (
        ("SELECT l.wallet_id, l.id INTO v_wallet, v_lot\n"
         "    FROM ledger_transactions c JOIN token_lots l ON l.transaction_id = c.id\n",
         "SELECT l.wallet_id, l.organization_id, l.id INTO v_wallet, v_org, v_lot\n"
         "    FROM ledger_transactions c\n"
         "    JOIN token_lots l\n"
         "      ON l.organization_id = c.organization_id AND l.transaction_id = c.id\n"),
        DISPUTE_REPLAY_JOIN, *DISPUTE_EDITS, DISPUTE_WALLET_UPDATE, DISPUTE_LOT,
    ),
    "LEDGER_DISPUTE_RELEASE": (
        FREEZE_KEY,
        ("    FROM ledger_transactions c JOIN token_lots l ON l.transaction_id = c.id\n"
         "   WHERE c.idempotency_key = p_credit_key;",
         "    FROM ledger_transactions c\n"
         "    JOIN token_lots l\n"
         "      ON l.organization_id = c.organization_id AND l.transaction_id = c.id\n"
         "   WHERE c.organization_id = v_org AND c.idempotency_key = p_credit_key;"),
        DISPUTE_REPLAY_JOIN, *DISPUTE_EDITS, DISPUTE_WALLET_UPDATE, DISPUTE_LOT,
    ),
    "LEDGER_DISPUTE_FORFEIT": (
        ("  v_id bigint;\nBEGIN", "  v_id bigint;\n  v_org integer;\nBEGIN"),
        FREEZE_KEY, *DISPUTE_EDITS,
    ),
    "LEDGER_DRAW_HELD_LOTS": (
        ("ledger_draw_held_lots(p_wallet_id integer,",
         "ledger_draw_held_lots(p_organization_id integer, p_wallet_id integer,"),
        ("WHERE l.wallet_id = p_wallet_id AND",
         "WHERE l.organization_id = p_organization_id AND l.wallet_id = p_wallet_id AND"),
        ("FROM taken WHERE l.id = taken.id",
         "FROM taken WHERE l.organization_id = p_organization_id AND l.id = taken.id"),
    ),
    "LEDGER_HOLD_ANSWER": (
        ("JOIN organization_token_wallets w ON w.id = h.wallet_id",
         "JOIN organization_token_wallets w\n"
         "      ON w.organization_id = h.organization_id AND w.id = h.wallet_id"),
    ),
    "LEDGER_HOLD": (
        ("ledger_expired_remainder(v_wallet.id)",
         "ledger_expired_remainder(p_organization_id, v_wallet.id)"),
        *HOLD_EDITS,
        ("VALUES (v_tx, v_wallet.ledger_account_id, -p_amount), (v_tx, v_held_account, p_amount);",
         "VALUES (p_organization_id, v_tx, v_wallet.ledger_account_id, -p_amount),\n"
         "         (p_organization_id, v_tx, v_held_account, p_amount);"),
    ),
    "LEDGER_HOLD_SETTLE": (
        *HOLD_EDITS,
        ("SELECT v_capture_tx,", "SELECT p_organization_id, v_capture_tx,"),
        ("VALUES (v_release_tx,", "VALUES (p_organization_id, v_release_tx,"),
        ("(v_release_tx, v_wallet.ledger_account_id",
         "(p_organization_id, v_release_tx, v_wallet.ledger_account_id"),
        ("ledger_draw_held_lots(v_wallet.id,",
         "ledger_draw_held_lots(p_organization_id, v_wallet.id,"),
    ),
    "SPEND_LIMIT_NOTIFY": (
        ("ON CONFLICT (idempotency_key) DO NOTHING",
         "ON CONFLICT (idempotency_key, organization_id) DO NOTHING"),
    ),
    "LEDGER_SPEND_LIMITED": (
        ("ledger_spend_replay(p_key,", "ledger_spend_replay(p_organization_id, p_key,"),
    ),
    "LEDGER_SPEND_BATCH_LIMITED": (
        ("ledger_spend_replay(p_keys[v_i],",
         "ledger_spend_replay(p_organization_ids[v_i], p_keys[v_i],"),
    ),
}  # fmt: skip

# Where each body was last written.
SPEND_SOURCES: dict[str, str] = {
    "LEDGER_SPEND": "0014_inactive_organizations_spend.py",
    "LEDGER_SPEND_BATCH": "0014_inactive_organizations_spend.py",
    "LEDGER_DISPUTE_FREEZE": "0018_stripe_events.py",
    "LEDGER_DISPUTE_RELEASE": "0018_stripe_events.py",
    "LEDGER_DISPUTE_FORFEIT": "0018_stripe_events.py",
    "LEDGER_DRAW_HELD_LOTS": "0019_token_holds.py",
    "LEDGER_HOLD_ANSWER": "0019_token_holds.py",
    "LEDGER_HOLD": "0022_holds_count_against_limits.py",
    "LEDGER_HOLD_SETTLE": "0022_holds_count_against_limits.py",
    "SPEND_LIMIT_NOTIFY": "0020_spend_limits.py",
    "LEDGER_SPEND_LIMITED": "0020_spend_limits.py",
    "LEDGER_SPEND_BATCH_LIMITED": "0020_spend_limits.py",
}

# The wallet-keyed overloads nothing calls once the functions above name the organisation.
WALLET_KEYED_HELPERS = (
    "ledger_spend_replay(text, numeric, text, text)",
    "ledger_expired_remainder(integer)",
    "ledger_draw_lots(integer, numeric)",
    "ledger_topup_threshold(integer, boolean)",
    "ledger_draw_held_lots(integer, numeric)",
)


def _source(name: str) -> str:
    module = runpy.run_path(str(Path(__file__).parent / SPEND_SOURCES[name]))
    text: str = module[name]
    return text


def _edited(name: str) -> str:
    text = _source(name)
    for old, new in SPEND_EDITS[name]:
        if old not in text:
            raise RuntimeError(f"{name} of {SPEND_SOURCES[name]} has no {old!r}")
        text = text.replace(old, new)
    return text.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def _spend_functions_with_organisation() -> None:
    # Bodies hold ledger keys such as 'hold:<id>:capture', which SQLAlchemy's text() would read
    # as bind parameters: they go to the driver as they are (as 0019 does).
    for name in SPEND_EDITS:
        op.get_bind().exec_driver_sql(_edited(name))
    for signature in WALLET_KEYED_HELPERS:
        op.execute(f"DROP FUNCTION {signature}")


def _spend_functions_without_organisation() -> None:
    """Downgrade: the bodies as their migrations wrote them (the old ledger_draw_held_lots too)."""
    op.execute("DROP FUNCTION ledger_draw_held_lots(integer, integer, numeric)")
    for name in SPEND_EDITS:
        body = _source(name).replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
        op.get_bind().exec_driver_sql(body)
