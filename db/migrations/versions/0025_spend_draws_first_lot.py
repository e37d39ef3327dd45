"""A spend draws its first lot in one statement when that lot holds the whole amount.

`ledger_draw_lots` ranks every open lot of the wallet with a window function and updates the
ones it takes: the costliest statement of a spend (about a seventh of `ledger_spend`'s time in
pg_stat_statements). Almost always the first lot in drawing order (first to expire, then oldest,
then by id) holds the whole amount, and then the draw is one UPDATE of that lot, found through
`idx_token_lots_open`. `ledger_spend` and `ledger_spend_batch` try that first and call
`ledger_draw_lots` only when the first lot is short, so what is drawn from which lot is exactly
what `ledger_draw_lots` draws: the first lot in its order covers the amount, so it takes the
amount from that lot alone. The wallet's row lock is held, so the lots cannot change between
the two. Everything else of both functions is 0023's body.
"""

import runpy
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIRST_LOT = """UPDATE token_lots l SET remaining_amount = l.remaining_amount - {amount}
     WHERE l.organization_id = {org} AND l.remaining_amount >= {amount}
       AND l.id = (SELECT f.id FROM token_lots f
                    WHERE f.organization_id = {org} AND f.wallet_id = {wallet}
                      AND f.remaining_amount > 0
                      AND (f.expires_at IS NULL OR f.expires_at > now())
                    ORDER BY f.expires_at ASC NULLS LAST, f.created_at, f.id LIMIT 1);
    IF NOT FOUND THEN  -- the first lot is short: draw across lots
      PERFORM ledger_draw_lots({org}, {wallet}, {amount});
    END IF;"""

# (function, the draw in 0023's body, its parameters: organisation, wallet, amount)
DRAWS: tuple[tuple[str, str, dict[str, str]], ...] = (
    (
        "LEDGER_SPEND",
        "PERFORM ledger_draw_lots(p_organization_id, v_wallet, p_amount);",
        {"org": "p_organization_id", "wallet": "v_wallet", "amount": "p_amount"},
    ),
    (
        "LEDGER_SPEND_BATCH",
        "PERFORM ledger_draw_lots(v_org, v_wallet.id, v_spent);",
        {"org": "v_org", "wallet": "v_wallet.id", "amount": "v_spent"},
    ),
)


def _bodies_of_0023() -> dict[str, str]:
    module = runpy.run_path(str(Path(__file__).with_name("0023_distributed_schema.py")))
    return {name: module["_edited"](name) for name, _, _ in DRAWS}


def upgrade() -> None:
    bodies = _bodies_of_0023()
    for name, draw, names in DRAWS:
        body = bodies[name]
        if body.count(draw) != 1:
            raise RuntimeError(f"{name} of 0023 does not draw its lots once as {draw!r}")
        # Ledger keys such as 'hold:<id>:capture' would be bind parameters to text(): the
        # bodies go to the driver as they are (as 0019 and 0023 do).
        op.get_bind().exec_driver_sql(body.replace(draw, FIRST_LOT.format(**names)))


def downgrade() -> None:
    for body in _bodies_of_0023().values():
        op.get_bind().exec_driver_sql(body)
