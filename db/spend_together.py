"""Many ledger operations in one transaction: the coalescer's database half. The operations are
single spends, new holds and settlements of holds (capture or release).

The operations go in organization order (arrival order within an organization), so every wallet
is locked in the order `ledger_spend_batch` locks them and two such transactions, or one and an
API batch, never wait on each other in a cycle (each hold function takes its wallet's row lock
first, as a spend does). Consecutive spends of one caller (actor) share one
`ledger_spend_batch_limited` call, so a wallet is updated and its lots drawn once per run; a hold
is one `ledger_hold` call and a settlement one `ledger_hold_settle` call, each seeing what the
operations before it in the transaction did (a hold key placed earlier in the group replays, a
hold captured earlier is no longer active). Each spend's audit row still names its own caller,
address and request: they travel in the transaction-local setting `tokenbill.spend_contexts`
(migration 0021); a hold's and a settlement's travel as their call's parameters. The setting,
the calls, the BEGIN and the COMMIT travel in one pipeline: the server runs them back to back,
so no wallet lock waits on this process. One COMMIT ends them all: if anything fails, nothing
is applied.
"""

import json
from itertools import groupby

from psycopg import AsyncConnection, AsyncCursor

from db.holds import (
    HOLD_SQL,
    SETTLE_SQL,
    HoldOutcome,
    HoldRequest,
    SettleRequest,
    hold_outcome,
    hold_parameters,
    settle_parameters,
)
from db.spending import (
    SPEND_BATCH_SQL,
    AlertDefaults,
    SpendContext,
    SpendOutcome,
    SpendRequest,
    batch_outcomes,
    batch_parameters,
)

Operation = SpendRequest | HoldRequest | SettleRequest
Outcome = SpendOutcome | HoldOutcome
Operated = tuple[Operation, SpendContext]
Spend = tuple[SpendRequest, SpendContext]
Row = tuple[object, ...]
SET_CONTEXTS_SQL = "SELECT set_config('tokenbill.spend_contexts', %s, true)"


async def apply_together(
    conn: AsyncConnection[Row], operations: list[Operated], defaults: AlertDefaults
) -> list[Outcome]:
    """Apply the operations in one transaction on an autocommit connection; the outcomes come
    back in the order of `operations`, each as the operation alone would have had it at its
    place in line."""
    order = sorted(range(len(operations)), key=lambda i: operations[i][0].organization_id)
    calls: list[tuple[list[int], AsyncCursor[Row]]] = []
    spends = [(o, c) for o, c in operations if isinstance(o, SpendRequest)]
    async with conn.pipeline(), conn.transaction():
        if spends:
            await conn.execute(SET_CONTEXTS_SQL, (_contexts(spends),), prepare=True)
        for _, run in groupby(order, key=lambda i: _call_of(i, operations[i])):
            places = list(run)
            cursor = conn.cursor()
            await cursor.execute(*_statement([operations[i] for i in places], defaults))
            calls.append((places, cursor))
    outcomes: list[Outcome | None] = [None] * len(operations)
    for places, cursor in calls:
        for place, outcome in zip(places, await _outcomes(operations, places, cursor), strict=True):
            outcomes[place] = outcome
    assert all(o is not None for o in outcomes), "every operation has its outcome"
    return [o for o in outcomes if o is not None]


async def spend_together(
    conn: AsyncConnection[Row], spends: list[Spend], defaults: AlertDefaults
) -> list[SpendOutcome]:
    """`apply_together` for spends only."""
    outcomes = await apply_together(conn, list(spends), defaults)
    return [o for o in outcomes if isinstance(o, SpendOutcome)]


def _call_of(place: int, operated: Operated) -> tuple[object, ...]:
    """Which call an operation goes in: a run of one caller's spends shares one; every hold and
    settlement has its own."""
    operation, context = operated
    if isinstance(operation, SpendRequest):
        return ("spend", context.actor_type, context.actor_id)
    return ("one", place)


def _statement(run: list[Operated], defaults: AlertDefaults) -> tuple[str, tuple[object, ...]]:
    first, context = run[0]
    if isinstance(first, SpendRequest):
        requests = [o for o, _ in run if isinstance(o, SpendRequest)]
        return SPEND_BATCH_SQL, batch_parameters(requests, defaults, context)
    if isinstance(first, HoldRequest):
        return HOLD_SQL, hold_parameters(first, context, defaults)
    return SETTLE_SQL, settle_parameters(first, context)


async def _outcomes(
    operations: list[Operated], places: list[int], cursor: AsyncCursor[Row]
) -> list[Outcome]:
    first = operations[places[0]][0]
    if isinstance(first, SpendRequest):
        requests = [o for o, _ in (operations[i] for i in places) if isinstance(o, SpendRequest)]
        return list(batch_outcomes(requests, await cursor.fetchall()))
    row = await cursor.fetchone()
    assert row is not None, "a hold function answers one row"
    return [hold_outcome(first.organization_id, row)]


def _contexts(spends: list[Spend]) -> str:
    """Each ledger key's audit context; a key sent twice is applied (and audited) as the first."""
    contexts: dict[str, tuple[str, str | None, str | None, str | None]] = {}
    for request, context in spends:
        contexts.setdefault(request.ledger_key, context.parameters())
    return json.dumps(contexts, separators=(",", ":"))
