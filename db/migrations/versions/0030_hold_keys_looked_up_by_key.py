"""A new hold's key is looked up through the hold key whatever plan PostgreSQL kept: placing a
hold no longer costs more as its organization's holds pile up.

Each new hold of `ledger_hold_ops_run` looked its key up with a static statement,
`WHERE h.organization_id = p_organization_id AND h.idempotency_key = p_keys[v_i]`. PL/pgSQL keeps
a generic plan of it per connection, made after its fifth run, and on a fresh database that is
while `token_holds` is nearly empty and never analyzed: then `pk_token_holds` on the organization
alone and `uq_token_holds_key` on both columns are one row each to the planner, and which one a
connection keeps is a tie. Under the bench's hold + capture load (auto_explain on the API's own
connections) about half of them kept the primary key, and read every hold of the organization to
find none: pg_stat_statements counted 211 buffers per lookup with 3,000 holds and 477 with
8,000 (0.18 ms, then 0.41 ms, for a lookup that reads three buffers), until autovacuum first
analyzes the table, a minute or more into the load. It was the largest cost of a run.

The lookup is now dynamic (`EXECUTE ... USING`): planned with the key and the organization each
time, from the table as it is then. While the table is a few pages the tie does not matter;
past that the organization alone is more rows than the whole key, so the plan probes the hold
key. It costs the planning, about 20 microseconds a new hold on the bench machine (a static
lookup is 2), and it still names its organization, as every statement of a hold does in the
distributed schema. A set-wise lookup of the run's keys was tried on paper and not taken: without
statistics the planner counts the organization as 0.5% of the table, so it would scan the
organization's holds until the table was a few thousand holds. Nothing else of 0029's body
changes.

`ledger_hold` (0024), the one-hold function the API calls when coalescing is off, looks its key
up twice with static statements of the same shape (the replay, and again under the wallet lock
for a hold of the same key that committed meanwhile): both are dynamic too. Nothing else of its
body changes.
"""

import runpy
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOOKUP = (
    "      SELECT h.id, h.wallet_id, h.status, h.amount, h.captured_amount, h.released_amount,\n"
    """             h.expires_at, h.created_at, h.settled_at, h.description, h.reference,
             h.expiry_request INTO v_found
        FROM token_holds h
       WHERE h.organization_id = p_organization_id AND h.idempotency_key = p_keys[v_i];
      IF v_found.id IS NOT NULL THEN
"""
)
DYNAMIC_LOOKUP = """      EXECUTE 'SELECT h.id, h.wallet_id, h.status, h.amount, h.captured_amount,
                      h.released_amount, h.expires_at, h.created_at, h.settled_at,
                      h.description, h.reference, h.expiry_request
                 FROM token_holds h
                WHERE h.idempotency_key = $2 AND h.organization_id = $1'
         INTO v_found USING p_organization_id, p_keys[v_i];
      IF v_found.id IS NOT NULL THEN
"""


HOLD_REPLAY_LOOKUP = (
    "  SELECT h.id, h.amount, h.description, h.reference, h.expiry_request INTO v_found\n"
    "    FROM token_holds h WHERE h.organization_id = p_organization_id"
    " AND h.idempotency_key = p_key;\n"
    "  IF FOUND THEN\n"
)
HOLD_DYNAMIC_REPLAY_LOOKUP = """  EXECUTE 'SELECT h.id, h.amount, h.description, h.reference,
                  h.expiry_request
             FROM token_holds h WHERE h.idempotency_key = $2 AND h.organization_id = $1'
     INTO v_found USING p_organization_id, p_key;
  IF v_found.id IS NOT NULL THEN  -- EXECUTE leaves FOUND as it was
"""
HOLD_RACE_LOOKUP = """    SELECT h.id INTO v_hold FROM token_holds h
     WHERE h.organization_id = p_organization_id AND h.idempotency_key = p_key;
"""
HOLD_DYNAMIC_RACE_LOOKUP = """    EXECUTE 'SELECT h.id FROM token_holds h
              WHERE h.idempotency_key = $2 AND h.organization_id = $1'
       INTO v_hold USING p_organization_id, p_key;
"""


def _body_of_0029() -> str:
    here = Path(__file__).parent
    module = runpy.run_path(str(here / "0029_hold_runs_settle_one_by_one.py"))
    return str(module["settled_one_by_one"](module["_body_of_0027"]()))


def replaced(body: str, replacements: dict[str, str], source: str) -> str:
    """`body` with each statement replaced by its dynamic form; each must be there once."""
    for statement, dynamic in replacements.items():
        if body.count(statement) != 1:
            raise RuntimeError(f"{source} does not have this lookup once: {statement!r}")
        body = body.replace(statement, dynamic)
    return body


def looked_up_by_key(body: str) -> str:
    """0029's `ledger_hold_ops_run` with a new hold's key looked up by a statement planned each
    time."""
    return replaced(body, {LOOKUP: DYNAMIC_LOOKUP}, "0029's ledger_hold_ops_run")


def _hold_of_0024() -> str:
    module = runpy.run_path(str(Path(__file__).with_name("0024_hold_edges.py")))
    return str(module["LEDGER_HOLD"]).replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def hold_looked_up_by_key(body: str) -> str:
    """0024's `ledger_hold` with both its key lookups planned each time."""
    replacements = {
        HOLD_REPLAY_LOOKUP: HOLD_DYNAMIC_REPLAY_LOOKUP,
        HOLD_RACE_LOOKUP: HOLD_DYNAMIC_RACE_LOOKUP,
    }
    return replaced(body, replacements, "0024's ledger_hold")


def upgrade() -> None:
    # Bodies hold ledger keys such as 'hold:<id>:reserve', which SQLAlchemy's text() would read
    # as bind parameters: they go to the driver as they are (as 0026 to 0029 do).
    run = op.get_bind().exec_driver_sql
    run(looked_up_by_key(_body_of_0029()))
    run(hold_looked_up_by_key(_hold_of_0024()))


def downgrade() -> None:
    run = op.get_bind().exec_driver_sql
    run(_body_of_0029())
    run(_hold_of_0024())
