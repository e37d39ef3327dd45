"""Each coalesced spend's audit row names its own caller and request.

The API applies concurrent single spends in one `ledger_spend_batch` call (SPEND_COALESCE_WINDOW);
that call takes one audit context, so `ledger_spend_book` now reads each spend's own (actor
type, actor id, address, request id) from the transaction-local setting
`tokenbill.spend_contexts`, a JSON object by ledger key, when it holds the spend's key. Nothing
else sets it, so every other spend is booked as before. `ledger_spend` and `ledger_spend_batch`
are unchanged.
"""

import runpy
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEDGER_SPEND_BOOK = """
CREATE OR REPLACE FUNCTION ledger_spend_book(
  p_id bigint, p_key text, p_wallet_id integer, p_account_id integer, p_organization_id integer,
  p_amount numeric, p_before numeric, p_after numeric, p_description text, p_reference text,
  p_low numeric, p_critical numeric, p_topup numeric,
  p_actor_type text, p_actor_id text, p_ip text, p_request_id text
) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  v_events integer := 0;
  v_notification bigint;
  v_level record;
  v_own jsonb;
BEGIN
  -- A coalesced group of single spends shares one ledger_spend_batch call: each spend's own
  -- caller and request come in the transaction's tokenbill.spend_contexts, by ledger key.
  v_own := nullif(current_setting('tokenbill.spend_contexts', true), '')::jsonb -> p_key;
  IF v_own IS NOT NULL THEN
    p_actor_type := v_own ->> 0;
    p_actor_id := v_own ->> 1;
    p_ip := v_own ->> 2;
    p_request_id := v_own ->> 3;
  END IF;

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


def upgrade() -> None:
    op.execute(LEDGER_SPEND_BOOK)


def downgrade() -> None:
    definitions = runpy.run_path(str(Path(__file__).with_name("0005_spending.py")))
    earlier: str = definitions["LEDGER_SPEND_BOOK"]
    op.execute(earlier.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
