"""A hold found by its id reads one row however many holds its organization has: the unique key
becomes (idempotency_key, organization_id), and a run of hold commands settles each hold with an
UPDATE through the whole primary key.

0027 added `h.id = ANY (s_hold)` to the run's one set-wise settlement UPDATE so that the index
condition would name the settled holds. It did not hold under the bench's hold + capture load
(auto_explain on the API's own plans, one hot organization, `token_holds` never analyzed yet):
the kept generic plan estimated 5 holds for the organization and 10 for the array, so it chose
a bitmap scan of `uq_token_holds_key` on `organization_id` alone and filtered the ids, reading
all 8,199 of the organization's holds to settle 8 (3 ms a run, and growing with its history).
The run's cost inside PostgreSQL rose from 6.6 ms to 14.7 ms within 20 seconds.

Taking that statement apart was not enough. PL/pgSQL keeps one generic plan per statement per
connection, and the API's connections make theirs when they first run, while `token_holds` is
empty and never analyzed. Then `organization_id = $1` is one row to the planner, as is
`organization_id = $1 AND id = $2`, and it took `uq_token_holds_key` (organization_id,
idempotency_key) on the organization alone for every lookup by id: the settlement's read of
its hold and its UPDATE (`EXPLAIN` of the prepared lookup on a fresh database shows the same).
Those plans stay until the table is first analyzed, a minute or more into the load; meanwhile
each capture reads all of the organization's holds, 1,608 in one logged plan (10 ms).

So:
- `uq_token_holds_key` is (idempotency_key, organization_id), the order of every other table's
  idempotency key in the distributed schema (docs/distributed-schema.md): it no longer serves a
  condition on the organization alone, so a lookup by id has only `pk_token_holds` to use, and a
  lookup by key still matches this index on both its columns. The constraint is re-created in
  the migration's transaction (an index build over the table; holds are new in issue 15).
- Each settled hold is updated by its own statement whose WHERE names the whole primary key (the
  set-wise UPDATE's `id = ANY (s_hold)` is ten rows to a generic plan, more than the
  organization alone). A run settles at most a group's worth of holds (SPEND_COALESCE_MAX).
Nothing else of 0027's body changes.
"""

import runpy
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SET_WISE = """  UPDATE token_holds h
     SET status = s.outcome, captured_amount = s.capture, released_amount = s.release,
         settled_at = v_settled, capture_transaction_id = s.capture_tx,
         release_transaction_id = s.release_tx
    FROM unnest(s_hold, s_outcome, s_capture, s_release, s_capture_tx, s_release_tx)
         AS s(hold, outcome, capture, release, capture_tx, release_tx)
   WHERE h.organization_id = p_organization_id AND h.id = ANY (s_hold)
     AND h.id = s.hold;
"""
ONE_BY_ONE = """  FOR v_j IN 1 .. coalesce(cardinality(s_hold), 0) LOOP
    UPDATE token_holds h
       SET status = s_outcome[v_j], captured_amount = s_capture[v_j],
           released_amount = s_release[v_j], settled_at = v_settled,
           capture_transaction_id = s_capture_tx[v_j],
           release_transaction_id = s_release_tx[v_j]
     WHERE h.organization_id = p_organization_id AND h.id = s_hold[v_j];
  END LOOP;
"""


def _body_of_0027() -> str:
    here = Path(__file__).parent
    module = runpy.run_path(str(here / "0027_hold_runs_settle_by_id.py"))
    return str(module["settled_by_id"](module["_body_of_0026"]()))


def settled_one_by_one(body: str) -> str:
    """0027's body with each settled hold updated through its primary key."""
    if body.count(SET_WISE) != 1:
        raise RuntimeError("0027's settlement UPDATE is not where this migration expects it")
    return body.replace(SET_WISE, ONE_BY_ONE)


def _unique_key(*columns: str) -> None:
    op.drop_constraint("uq_token_holds_key", "token_holds", type_="unique")
    op.create_unique_constraint("uq_token_holds_key", "token_holds", list(columns))


def upgrade() -> None:
    _unique_key("idempotency_key", "organization_id")
    # Bodies hold ledger keys such as 'hold:<id>:reserve', which SQLAlchemy's text() would read
    # as bind parameters: they go to the driver as they are (as 0026 and 0027 do).
    op.get_bind().exec_driver_sql(settled_one_by_one(_body_of_0027()))


def downgrade() -> None:
    op.get_bind().exec_driver_sql(_body_of_0027())
    _unique_key("organization_id", "idempotency_key")
