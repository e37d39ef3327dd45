"""Holds count against spend limits when captured (issue 15).

Each hold remembers the API key that placed it (`token_holds.api_key_id`, NULL for a user or an
admin, set NULL when the key is deleted). `ledger_hold_settle` judges and counts a capture with
`spend_limit_take(org, hold's key, captured amount, now, enforce)` where the captured amount is
decided, after the hold's own checks and under the wallet lock it already holds (the take locks
the same row again, then the usage rows: wallet first, as every spend). A capture that would
cross a hard cap is refused as `spend_limit_reached` with the limit's details; nothing is written
and the hold stays active (release it or capture less). Soft limits are counted and notify once
(`events`). Releases and expiries never touch limits. `ledger_hold_capture_batch` answers each
item as `ledger_hold_settle` does, so a refused capture is one item's answer.

The bodies are 0019's, rewritten here by exact substitution (each replaced text must be found),
so what does not change stays 0019's word for word. The settlement's answer gains `events` and
the limit columns; `ledger_hold` gains `p_api_key_id` (default NULL).
"""

import runpy
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_0019 = runpy.run_path(str(Path(__file__).with_name("0019_token_holds.py")))
HOLD_RESULT: str = _0019["HOLD_RESULT"]
LIMIT_RESULT = """events integer, limit_id bigint, limit_scope text, limit_api_key_id integer,
  limit_period text, limit_cap numeric, limit_used numeric, limit_resets_at timestamptz"""
NO_LIMIT = (
    "0, NULL::bigint, NULL::text, NULL::integer, NULL::text, NULL::numeric, NULL::numeric, "
    "NULL::timestamptz"
)


def _rewrite(body: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert body.count(old) >= 1, f"0019 body lacks {old!r}"
        body = body.replace(old, new)
    return body


LEDGER_HOLD = _rewrite(
    _0019["LEDGER_HOLD"],
    (
        "p_actor_type text, p_actor_id text, p_ip text, p_request_id text\n)",
        "p_actor_type text, p_actor_id text, p_ip text, p_request_id text,\n"
        "  p_api_key_id integer DEFAULT NULL\n)",
    ),
    (
        "p_actor_type, p_actor_id, p_ip, p_request_id);\n      RETURN;",
        "p_actor_type, p_actor_id, p_ip, p_request_id,\n"
        "                                             p_api_key_id);\n      RETURN;",
    ),
    (
        "expires_at, expiry_request,\n                           hold_transaction_id)",
        "expires_at, expiry_request,\n                           hold_transaction_id, api_key_id)",
    ),
    (
        "p_expires_at, p_expiry_request, v_tx);",
        "p_expires_at, p_expiry_request, v_tx, p_api_key_id);",
    ),
)

_SETTLE_RESULT = f"RETURNS TABLE ({HOLD_RESULT}, {LIMIT_RESULT})"

LEDGER_HOLD_SETTLE = _rewrite(
    _0019["LEDGER_HOLD_SETTLE"],
    (f"RETURNS TABLE ({HOLD_RESULT})", _SETTLE_RESULT),
    (
        "  v_settled timestamptz := now();\n",
        "  v_settled timestamptz := now();\n  v_take record;\n  v_events integer := 0;\n",
    ),
    # Every earlier answer: no events, no limit.
    (
        "NULL::text, NULL::text;\n    RETURN;",
        f"NULL::text, NULL::text, {NO_LIMIT};\n    RETURN;",
    ),
    (
        "RETURN QUERY SELECT * FROM ledger_hold_answer(",
        f"RETURN QUERY SELECT a.*, {NO_LIMIT} FROM ledger_hold_answer(",
    ),
    ("p_organization_id, p_hold_id);", "p_organization_id, p_hold_id) a;"),
    (
        "p_hold_id);\n    RETURN;\n  END IF;\n  IF p_outcome = 'captured'",
        "p_hold_id) a;\n    RETURN;\n  END IF;\n  IF p_outcome = 'captured'",
    ),
    (
        "p_hold_id);\n      RETURN;\n    END IF;\n    IF NOT v_wallet",
        "p_hold_id) a;\n      RETURN;\n    END IF;\n    IF NOT v_wallet",
    ),
    (
        "p_hold_id);\n      RETURN;\n    END IF;\n    v_capture",
        "p_hold_id) a;\n      RETURN;\n    END IF;\n    v_capture",
    ),
    (
        "p_hold_id);\n      RETURN;\n    END IF;\n  ELSE",
        "p_hold_id) a;\n      RETURN;\n    END IF;\n"
        "    -- The capture counts against the spend limits of the organization and of the key\n"
        "    -- that placed the hold; one that would cross a hard cap is refused, nothing written\n"
        "    -- (the hold stays active). An organization without limits skips the take.\n"
        "    IF v_capture > 0 AND EXISTS (SELECT 1 FROM spend_limits l\n"
        "                                  WHERE l.organization_id = p_organization_id) THEN\n"
        "      SELECT * INTO v_take FROM spend_limit_take(p_organization_id, v_hold.api_key_id,\n"
        "                                                 v_capture, NULL, true);\n"
        "      IF NOT v_take.taken AND v_take.limit_id IS NOT NULL THEN\n"
        "        RETURN QUERY SELECT 'spend_limit_reached'::text, a.hold_id, a.wallet_id,\n"
        "                            a.hold_status, a.amount, a.captured_amount,\n"
        "                            a.released_amount, a.balance, a.held, a.expires_at,\n"
        "                            a.created_at, a.settled_at, a.description, a.reference, 0,\n"
        "                            v_take.limit_id, v_take.limit_scope,\n"
        "                            v_take.limit_api_key_id, v_take.limit_period,\n"
        "                            v_take.limit_cap, v_take.limit_used, v_take.limit_resets_at\n"
        "          FROM ledger_hold_answer('applied', p_organization_id, p_hold_id) a;\n"
        "        RETURN;\n"
        "      END IF;\n"
        "      v_events := coalesce(v_take.events, 0);\n"
        "    END IF;\n"
        "  ELSE",
    ),
    (
        "v_hold.created_at, v_settled, v_hold.description, v_hold.reference::text;",
        "v_hold.created_at, v_settled, v_hold.description, v_hold.reference::text,\n"
        "                      v_events, NULL::bigint, NULL::text, NULL::integer, NULL::text,\n"
        "                      NULL::numeric, NULL::numeric, NULL::timestamptz;",
    ),
)

LEDGER_HOLD_CAPTURE_BATCH = _rewrite(
    _0019["LEDGER_HOLD_CAPTURE_BATCH"],
    (
        f"RETURNS TABLE (item integer, {HOLD_RESULT})",
        f"RETURNS TABLE (item integer, {HOLD_RESULT}, {LIMIT_RESULT})",
    ),
)

OLD_SIGNATURES = (
    "ledger_hold_capture_batch(integer[], bigint[], numeric[], text, text, text, text)",
    "ledger_hold_settle(integer, bigint, text, numeric, text, text, text, text)",
    "ledger_hold(text, integer, numeric, timestamptz, text, text, text, text, text, text, text)",
)
NEW_HOLD_SIGNATURE = (
    "ledger_hold(text, integer, numeric, timestamptz, text, text, text, text, text, text, text, "
    "integer)"
)


def upgrade() -> None:
    op.add_column(
        "token_holds",
        sa.Column(
            "api_key_id", sa.Integer(), sa.ForeignKey("api_keys.id", ondelete="SET NULL"),
            nullable=True,
        ),
    )  # fmt: skip
    for signature in OLD_SIGNATURES:
        op.execute(f"DROP FUNCTION {signature}")
    # Ledger keys such as 'hold:<id>:capture' would read as bind parameters in text().
    for body in (LEDGER_HOLD, LEDGER_HOLD_SETTLE, LEDGER_HOLD_CAPTURE_BATCH):
        op.get_bind().exec_driver_sql(body)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {OLD_SIGNATURES[0]}")
    op.execute(f"DROP FUNCTION {OLD_SIGNATURES[1]}")
    op.execute(f"DROP FUNCTION {NEW_HOLD_SIGNATURE}")
    for name in ("LEDGER_HOLD", "LEDGER_HOLD_SETTLE", "LEDGER_HOLD_CAPTURE_BATCH"):
        op.get_bind().exec_driver_sql(_0019[name])
    op.drop_column("token_holds", "api_key_id")
