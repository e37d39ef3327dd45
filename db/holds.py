"""Holds: reserve tokens (`ledger_hold`), then capture, release or expire them
(`ledger_hold_settle`, `ledger_hold_capture_batch`), each one statement on an autocommit
connection of the spend pool (migration 0019), like a spend, or several in one transaction
with spends (`db/spend_together.py`, the coalescer's half); and the holds read back.

A refused hold or settlement is an outcome, not an exception, and leaves nothing written.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal, cast

from psycopg import AsyncConnection
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.array_literals import array_literal
from db.models import TokenHold
from db.spending import AlertDefaults, LimitReached, SpendContext, limit_of

HoldStatus = Literal["active", "captured", "released", "expired"]
SettleOutcome = Literal["captured", "released", "expired"]
HoldAnswer = Literal[
    "applied", "replayed", "insufficient_balance", "organization_not_found",
    "organization_inactive", "idempotency_key_reused", "hold_not_found", "hold_not_active",
    "hold_expired", "hold_not_expired", "capture_exceeds_hold", "spend_limit_reached",
]  # fmt: skip
EXPIRY_ACTOR = "job:expireHolds"
SUCCEEDED: frozenset[str] = frozenset({"applied", "replayed"})
_RESULT = (
    "status, hold_id, wallet_id, hold_status, amount, captured_amount, released_amount, balance, "
    "held, expires_at, created_at, settled_at, description, reference"
)
# A settlement also answers the events it recorded and the hard limit a capture would cross.
_SETTLED = (
    f"{_RESULT}, events, limit_id, limit_scope, limit_api_key_id, limit_period, limit_cap, "
    "limit_used, limit_resets_at"
)
# A new hold also answers the alerts it recorded (0024: a hold lowers the available balance).
HOLD_SQL = (
    f"SELECT {_RESULT}, events FROM ledger_hold(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
    " %s::integer, %s, %s, %s)"
)
SETTLE_SQL = f"SELECT {_SETTLED} FROM ledger_hold_settle(%s, %s, %s, %s, %s, %s, %s, %s)"
# A run of one organization's new holds and settlements in one call (migration 0025): `item` is
# the place of each answer's request in the run.
OPS_RUN_SQL = (
    f"SELECT item, {_SETTLED} FROM ledger_hold_ops_run(%s, %s::text[], %s::text[],"
    " %s::numeric[], %s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::integer[],"
    " %s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[], %s, %s, %s)"
)
CAPTURE_BATCH_SQL = (
    f"SELECT item, {_SETTLED} FROM ledger_hold_capture_batch(%s, %s, %s::numeric[], %s, %s, %s, %s)"
)


@dataclass(frozen=True)
class HoldRequest:
    organization_id: int
    amount: Decimal
    idempotency_key: str
    expires_at: datetime
    expiry_request: str
    description: str | None = None
    reference: str | None = None
    api_key_id: int | None = None  # the key placing it: its captures count against its limits


@dataclass(frozen=True)
class HoldOutcome:
    """What became of a hold request or a settlement: the hold as it is after it (None when
    there is none), and the wallet's balance and held tokens then. A refused new hold for
    balance has `balance` = what it could have taken."""

    status: HoldAnswer
    organization_id: int
    hold_id: int | None
    wallet_id: int | None
    hold_status: HoldStatus | None
    amount: Decimal | None
    captured_amount: Decimal | None
    released_amount: Decimal | None
    balance: Decimal | None
    held: Decimal | None
    expires_at: datetime | None
    created_at: datetime | None
    settled_at: datetime | None
    description: str | None = None
    reference: str | None = None
    events: int = 0  # outbox rows recorded: a hold's threshold alerts, a capture's soft limit
    limit: LimitReached | None = None  # the hard limit a refused capture would have crossed

    @property
    def succeeded(self) -> bool:
        return self.status in SUCCEEDED


@dataclass(frozen=True)
class SettleRequest:
    """Capture (`amount` tokens, None for all; the rest released), release or expire a hold."""

    organization_id: int
    hold_id: int
    outcome: SettleOutcome
    amount: Decimal | None = None


@dataclass(frozen=True)
class CaptureRequest:
    organization_id: int
    hold_id: int
    amount: Decimal | None  # None: all of it


Connection = AsyncConnection[tuple[object, ...]]


async def place_hold(
    conn: Connection,
    wanted: HoldRequest,
    context: SpendContext,
    defaults: AlertDefaults | None = None,
) -> HoldOutcome:
    """Reserve tokens (or replay the hold the key made) in one statement; a hold that takes the
    available balance under a threshold records its alerts as a spend does (`defaults` are the
    thresholds of wallets that set none; None: only the wallet's own, no auto top-up)."""
    cursor = await conn.execute(HOLD_SQL, hold_parameters(wanted, context, defaults), prepare=True)
    row = await cursor.fetchone()
    assert row is not None, "ledger_hold answers one row"
    return hold_outcome(wanted.organization_id, row)


def hold_parameters(
    wanted: HoldRequest, context: SpendContext, defaults: AlertDefaults | None
) -> tuple[object, ...]:
    """The parameters of HOLD_SQL for this hold."""
    return (
        wanted.idempotency_key, wanted.organization_id, wanted.amount, wanted.expires_at,
        wanted.expiry_request, wanted.description, wanted.reference, *context.parameters(),
        wanted.api_key_id, None if defaults is None else defaults.low,
        None if defaults is None else defaults.critical,
        False if defaults is None else defaults.auto_topup,
    )  # fmt: skip


def ops_run_parameters(
    organization_id: int,
    run: Sequence[tuple["HoldRequest | SettleRequest", SpendContext]],
    defaults: AlertDefaults | None,
) -> tuple[object, ...]:
    """The parameters of OPS_RUN_SQL for a run of one organization's new holds and settlements
    in arrival order (no hold key, no hold id twice). A settlement's amount is its capture."""
    kinds: list[str] = []
    amounts: list[Decimal | None] = []
    holds: list[HoldRequest | None] = []
    hold_ids: list[int | None] = []
    for operation, _ in run:
        if isinstance(operation, HoldRequest):
            kinds.append("hold")
            amounts.append(operation.amount)
            holds.append(operation)
            hold_ids.append(None)
        else:
            kinds.append(operation.outcome)
            amounts.append(operation.amount)
            holds.append(None)
            hold_ids.append(operation.hold_id)
    contexts = [c.parameters() for _, c in run]
    # Each array goes as one literal (db/array_literals.py): psycopg's own array dumping took
    # 113 us of the API's CPU for a run of 2 (now 19 us), 314 us for a run of 16 (now 53 us).
    return (
        organization_id, array_literal(kinds),
        array_literal(h and h.idempotency_key for h in holds), array_literal(amounts),
        array_literal(h and h.expires_at for h in holds),
        array_literal(h and h.expiry_request for h in holds),
        array_literal(h and h.description for h in holds),
        array_literal(h and h.reference for h in holds),
        array_literal(h and h.api_key_id for h in holds), array_literal(hold_ids),
        *(array_literal(c[n] for c in contexts) for n in range(4)),
        None if defaults is None else defaults.low,
        None if defaults is None else defaults.critical,
        False if defaults is None else defaults.auto_topup,
    )  # fmt: skip


async def settle_hold(
    conn: Connection,
    organization_id: int,
    hold_id: int,
    outcome: SettleOutcome,
    capture: Decimal | None,
    context: SpendContext,
) -> HoldOutcome:
    """Capture (`capture` tokens, None for all; the rest released), release or expire a hold in
    one statement. The hold's amount, checked against `capture` under its row lock, is where a
    capture's amount is decided."""
    wanted = SettleRequest(organization_id, hold_id, outcome, capture)
    cursor = await conn.execute(SETTLE_SQL, settle_parameters(wanted, context), prepare=True)
    row = await cursor.fetchone()
    assert row is not None, "ledger_hold_settle answers one row"
    return hold_outcome(organization_id, row)


def settle_parameters(wanted: SettleRequest, context: SpendContext) -> tuple[object, ...]:
    """The parameters of SETTLE_SQL for this settlement."""
    return (
        wanted.organization_id, wanted.hold_id, wanted.outcome, wanted.amount,
        *context.parameters(),
    )  # fmt: skip


async def capture_holds(
    conn: Connection, wanted: Sequence[CaptureRequest], context: SpendContext
) -> list[HoldOutcome]:
    """Capture many holds in one statement (one transaction); outcomes in the order asked."""
    if not wanted:
        return []
    parameters = (
        [w.organization_id for w in wanted], [w.hold_id for w in wanted],
        [w.amount for w in wanted], *context.parameters(),
    )  # fmt: skip
    cursor = await conn.execute(CAPTURE_BATCH_SQL, parameters, prepare=True)
    outcomes: list[HoldOutcome | None] = [None] * len(wanted)
    for row in await cursor.fetchall():
        index = cast(int, row[0]) - 1
        outcomes[index] = hold_outcome(wanted[index].organization_id, row[1:])
    assert all(o is not None for o in outcomes), "ledger_hold_capture_batch answers every item"
    return [o for o in outcomes if o is not None]


async def holds_due(session: AsyncSession, limit: int) -> list[tuple[int, int]]:
    """(organization id, hold id) of active holds past their expiry, soonest first."""
    rows = await session.execute(
        select(TokenHold.organization_id, TokenHold.id)
        .where(TokenHold.status == "active", TokenHold.expires_at <= func.now())
        .order_by(TokenHold.expires_at, TokenHold.organization_id, TokenHold.id)
        .limit(limit)
    )
    return [(row.organization_id, row.id) for row in rows]


async def expire_hold(session: AsyncSession, organization_id: int, hold_id: int) -> bool:
    """Release a hold past its expiry as `expired`; False when it was settled before (a capture
    or a release that committed first) or is not due."""
    row = (
        await session.execute(
            # A call of the ledger's function, whose result is a row of named columns.
            text(
                "SELECT status FROM ledger_hold_settle(:org, :hold, 'expired', NULL, 'system', "
                ":actor, NULL, NULL)"
            ),
            {"org": organization_id, "hold": hold_id, "actor": EXPIRY_ACTOR},
        )
    ).one()
    return bool(row.status == "applied")


def hold_outcome(organization_id: int, row: Sequence[object]) -> HoldOutcome:
    """A row of HOLD_SQL (its 14 columns and the events) or SETTLE_SQL (those and the limit) as
    the outcome."""
    (status, hold_id, wallet_id, hold_status, amount, captured, released, balance, held,
     expires_at, created_at, settled_at, description, reference) = row[:14]  # fmt: skip
    settled = len(row) > 15
    return HoldOutcome(
        status=cast(HoldAnswer, status),
        organization_id=organization_id,
        hold_id=cast(int | None, hold_id),
        wallet_id=cast(int | None, wallet_id),
        hold_status=cast(HoldStatus | None, hold_status),
        amount=cast(Decimal | None, amount),
        captured_amount=cast(Decimal | None, captured),
        released_amount=cast(Decimal | None, released),
        balance=cast(Decimal | None, balance),
        held=cast(Decimal | None, held),
        expires_at=cast(datetime | None, expires_at),
        created_at=cast(datetime | None, created_at),
        settled_at=cast(datetime | None, settled_at),
        description=cast(str | None, description),
        reference=cast(str | None, reference),
        events=cast(int, row[14]) if len(row) > 14 else 0,
        limit=limit_of(tuple(row[15:22])) if settled else None,
    )


async def hold_of(session: AsyncSession, organization_id: int, hold_id: int) -> TokenHold | None:
    return await session.scalar(
        select(TokenHold).where(
            TokenHold.organization_id == organization_id, TokenHold.id == hold_id
        )
    )


async def list_holds(
    session: AsyncSession,
    organization_id: int,
    status: HoldStatus | None,
    *,
    limit: int,
    offset: int,
) -> tuple[list[TokenHold], int]:
    """One page of the organization's holds, newest first, and how many match."""
    query = select(TokenHold).where(TokenHold.organization_id == organization_id)
    if status is not None:
        query = query.where(TokenHold.status == status)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(query.order_by(TokenHold.id.desc()).limit(limit).offset(offset))
    return list(rows), int(total or 0)
