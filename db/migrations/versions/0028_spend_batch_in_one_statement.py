"""A coalesced run of single spends in one statement: `ledger_spend_batch_in_context`.

The coalescer's spends carry each caller's address and request id to their audit rows in the
transaction-local setting `tokenbill.spend_contexts` (0021), so a group of spends went as a
pipeline of four statements: BEGIN, `set_config`, `ledger_spend_batch_limited`, COMMIT. This
function takes the contexts as its first parameter, sets them for its own transaction and
answers what `ledger_spend_batch_limited` answers, so a group that is one run of spends is one
statement on an autocommit connection (its own transaction, all applied or none), as a run of
hold commands is (`db/spend_together.py`). Measured on the bench's API, the pipeline's
bookkeeping was the largest single cost of a spend request in the API process (psycopg's
pipeline generators, 14% of the samples over 1,000 wallets).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIGNATURE = (
    "ledger_spend_batch_in_context(text, text[], integer[], numeric[], text[], text[], numeric,"
    " numeric, boolean, text, text, text, text, integer[], timestamptz)"
)

LEDGER_SPEND_BATCH_IN_CONTEXT = """
CREATE FUNCTION ledger_spend_batch_in_context(
  p_contexts text, p_keys text[], p_organization_ids integer[], p_amounts numeric[],
  p_descriptions text[], p_references text[], p_low_default numeric, p_critical_default numeric,
  p_auto_topup boolean, p_actor_type text, p_actor_id text, p_ip text, p_request_id text,
  p_api_key_ids integer[], p_at timestamptz
) RETURNS TABLE (
  item integer, status text, transaction_id bigint, wallet_id integer, amount numeric,
  balance numeric, created_at timestamptz, events integer, limit_id bigint, limit_scope text,
  limit_api_key_id integer, limit_period text, limit_cap numeric, limit_used numeric,
  limit_resets_at timestamptz
) LANGUAGE plpgsql AS $$
BEGIN
  -- Each spend's caller, address and request for its audit row (0021), for this transaction.
  PERFORM set_config('tokenbill.spend_contexts', coalesce(p_contexts, ''), true);
  RETURN QUERY SELECT * FROM ledger_spend_batch_limited(
    p_keys, p_organization_ids, p_amounts, p_descriptions, p_references, p_low_default,
    p_critical_default, p_auto_topup, p_actor_type, p_actor_id, p_ip, p_request_id,
    p_api_key_ids, p_at);
END $$
"""


def upgrade() -> None:
    op.get_bind().exec_driver_sql(LEDGER_SPEND_BATCH_IN_CONTEXT)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {SIGNATURE}")
