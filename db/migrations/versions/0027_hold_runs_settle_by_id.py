"""A run of hold commands updates the holds it settles through their ids, not through every
hold of the organization.

`ledger_hold_ops_run` (0026) settled its holds with one `UPDATE token_holds ... FROM unnest(...)
WHERE h.organization_id = p_organization_id AND h.id = s.hold`. PL/pgSQL keeps a generic plan of
that statement, made while the organization had few holds: an index scan of `pk_token_holds`
on the organization alone, every one of its holds hashed and joined to the run's. Under the
bench's hold + capture load (auto_explain, one hot organization) the statement went from 0.05 ms
to 1.9 ms within six seconds as the organization's holds grew to 1,664, and it grows without
end with an organization's history. The same UPDATE now also says `h.id = ANY (s_hold)`: the
index condition then names the settled holds, whatever plan is kept, and the cost no longer
depends on how many holds the organization ever had. Nothing else of 0026's body changes.
"""

import runpy
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BY_ORGANIZATION = "   WHERE h.organization_id = p_organization_id AND h.id = s.hold;"
BY_ID = (
    "   WHERE h.organization_id = p_organization_id AND h.id = ANY (s_hold)\n"
    "     AND h.id = s.hold;"
)


def _body_of_0026() -> str:
    module = runpy.run_path(str(Path(__file__).with_name("0026_hold_runs.py")))
    body = str(module["LEDGER_HOLD_OPS_RUN"])
    return body.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def settled_by_id(body: str) -> str:
    """0026's body with the settled holds found through their ids."""
    if body.count(BY_ORGANIZATION) != 1:
        raise RuntimeError("0026's settlement UPDATE is not where this migration expects it")
    return body.replace(BY_ORGANIZATION, BY_ID)


def upgrade() -> None:
    # Bodies hold ledger keys such as 'hold:<id>:reserve', which SQLAlchemy's text() would read
    # as bind parameters: they go to the driver as they are (as 0026 does).
    op.get_bind().exec_driver_sql(settled_by_id(_body_of_0026()))


def downgrade() -> None:
    op.get_bind().exec_driver_sql(_body_of_0026())
