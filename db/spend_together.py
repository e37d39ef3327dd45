"""Many ledger operations in one transaction: the coalescer's database half. The operations are
single spends, new holds and settlements of holds (capture or release).

The operations go in organization order (arrival order within an organization), so every wallet
is locked in the order `ledger_spend_batch` locks them and two such transactions, or one and an
API batch, never wait on each other in a cycle (each hold function takes its wallet's row lock
first, as a spend does). Consecutive spends of one caller (actor) share one
`ledger_spend_batch_limited` call, so a wallet is updated and its lots drawn once per run;
consecutive new holds and settlements (captures, releases) of one organization share one
`ledger_hold_ops_run` call (migration 0025: the wallet locked and updated once, the lots drawn
once), each seeing what the operations before it in the transaction did.
A run never repeats a hold key or a hold id: a repeat starts a new call, which sees the first
written (a hold key placed earlier in the group replays, a hold captured earlier is no longer
active). Each spend's audit row still names its own caller, address and request: they travel
in the transaction-local setting `tokenbill.spend_contexts` (migration 0021); a hold's and a
settlement's travel as their call's parameters. The setting,
the calls, the BEGIN and the COMMIT travel in one pipeline: the server runs them back to back,
so no wallet lock waits on this process. One COMMIT ends them all: if anything fails, nothing
is applied.

A group that is one run (the usual group: one caller's spends, or one organization's hold
commands) goes as one prepared statement on the autocommit connection, which is its own
transaction (all of it applied or none): a run of spends through
`ledger_spend_batch_in_context`, which sets the contexts itself (migration 0028), a run of hold
commands as it is. That saves the BEGIN, the COMMIT and the pipeline's bookkeeping, and the
group's answer comes back in one wait on the socket. Each such wait is a turn in the API's event
loop, queued behind the HTTP requests in flight, and on a hot wallet the next group cannot start
before this one is answered.
"""

import json
from typing import cast

from psycopg import AsyncConnection, AsyncCursor

from db.holds import (
    OPS_RUN_SQL,
    HoldOutcome,
    HoldRequest,
    SettleRequest,
    hold_outcome,
    ops_run_parameters,
)
from db.spending import (
    SPEND_BATCH_IN_CONTEXT_SQL,
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
    runs = _runs(order, operations)
    spends = [(o, c) for o, c in operations if isinstance(o, SpendRequest)]
    calls: list[tuple[list[int], AsyncCursor[Row]]] = []
    if len(runs) == 1:  # one run: one statement, its own transaction
        statement, parameters = _run_alone([operations[i] for i in runs[0]], defaults)
        calls.append((runs[0], await conn.execute(statement, parameters, prepare=True)))
    else:
        async with conn.pipeline(), conn.transaction():
            if spends:
                await conn.execute(SET_CONTEXTS_SQL, (_contexts(spends),), prepare=True)
            for places in runs:
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


def _runs(order: list[int], operations: list[Operated]) -> list[list[int]]:
    """The calls, each a list of places: a run of one caller's spends, of one organization's new
    holds (no key twice) or of one organization's settlements (no hold twice)."""
    runs: list[list[int]] = []
    last: tuple[object, ...] | None = None
    seen: set[object] = set()
    for place in order:
        call, mark = _call_of(operations[place])
        if call != last or (mark is not None and mark in seen):
            runs.append([])
            last, seen = call, set()
        runs[-1].append(place)
        seen.add(mark)
    return runs


def _call_of(operated: Operated) -> tuple[tuple[object, ...], object]:
    """Which run an operation may join, and what it may not repeat there."""
    operation, context = operated
    if isinstance(operation, SpendRequest):
        return ("spend", context.actor_type, context.actor_id), None
    if isinstance(operation, HoldRequest):
        return ("holds", operation.organization_id), ("key", operation.idempotency_key)
    return ("holds", operation.organization_id), ("hold", operation.hold_id)


def _statement(run: list[Operated], defaults: AlertDefaults) -> tuple[str, tuple[object, ...]]:
    first, context = run[0]
    if isinstance(first, SpendRequest):
        requests = [o for o, _ in run if isinstance(o, SpendRequest)]
        return SPEND_BATCH_SQL, batch_parameters(requests, defaults, context)
    operations = [(o, c) for o, c in run if not isinstance(o, SpendRequest)]
    return OPS_RUN_SQL, ops_run_parameters(first.organization_id, operations, defaults)


def _run_alone(run: list[Operated], defaults: AlertDefaults) -> tuple[str, tuple[object, ...]]:
    """The run's call as a statement of its own: a run of spends carries its contexts."""
    statement, parameters = _statement(run, defaults)
    spends = [(o, c) for o, c in run if isinstance(o, SpendRequest)]
    if not spends:
        return statement, parameters
    return SPEND_BATCH_IN_CONTEXT_SQL, (_contexts(spends), *parameters)


async def _outcomes(
    operations: list[Operated], places: list[int], cursor: AsyncCursor[Row]
) -> list[Outcome]:
    first = operations[places[0]][0]
    if isinstance(first, SpendRequest):
        requests = [o for o, _ in (operations[i] for i in places) if isinstance(o, SpendRequest)]
        return list(batch_outcomes(requests, await cursor.fetchall()))
    outcomes: list[Outcome | None] = [None] * len(places)
    for row in await cursor.fetchall():
        outcomes[cast(int, row[0]) - 1] = hold_outcome(first.organization_id, row[1:])
    assert all(o is not None for o in outcomes), "a run function answers every item"
    return [o for o in outcomes if o is not None]


def _contexts(spends: list[Spend]) -> str:
    """Each ledger key's audit context; a key sent twice is applied (and audited) as the first."""
    contexts: dict[str, tuple[str, str | None, str | None, str | None]] = {}
    for request, context in spends:
        contexts.setdefault(request.ledger_key, context.parameters())
    return json.dumps(contexts, separators=(",", ":"))
