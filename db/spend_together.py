"""Many single spends in one transaction: the spend coalescer's database half.

The spends go to `ledger_spend_batch` in organization order (arrival order within an
organization), so every wallet is locked in the order that function locks them and two such
transactions, or one and an API batch, never wait on each other in a cycle; consecutive spends of
one caller (actor) share one call, so a wallet is updated and its lots drawn once per group. Each
spend's audit row still names its own caller, address and request: they travel in the
transaction-local setting `tokenbill.spend_contexts` (migration 0017). The setting, the calls,
the BEGIN and the COMMIT travel in one pipeline: the server runs them back to back, so no wallet
lock waits on this process. One COMMIT ends them all: if anything fails, nothing is applied.
"""

import json
from itertools import groupby

from psycopg import AsyncConnection, AsyncCursor

from db.spending import (
    SPEND_BATCH_SQL,
    AlertDefaults,
    SpendContext,
    SpendOutcome,
    SpendRequest,
    batch_outcomes,
    batch_parameters,
)

Spend = tuple[SpendRequest, SpendContext]
Row = tuple[object, ...]
SET_CONTEXTS_SQL = "SELECT set_config('tokenbill.spend_contexts', %s, true)"


async def spend_together(
    conn: AsyncConnection[Row], spends: list[Spend], defaults: AlertDefaults
) -> list[SpendOutcome]:
    """Apply the spends in one transaction on an autocommit connection; the outcomes come back
    in the order of `spends`, each as the spend alone would have had it at its place in line."""
    order = sorted(range(len(spends)), key=lambda i: spends[i][0].organization_id)
    calls: list[tuple[list[int], AsyncCursor[Row]]] = []
    async with conn.pipeline(), conn.transaction():
        await conn.execute(SET_CONTEXTS_SQL, (_contexts(spends),), prepare=True)
        for _, run in groupby(order, key=lambda i: _actor(spends[i][1])):
            places = list(run)
            requests = [spends[i][0] for i in places]
            context = spends[places[0]][1]
            cursor = conn.cursor()
            await cursor.execute(
                SPEND_BATCH_SQL, batch_parameters(requests, defaults, context), prepare=True
            )
            calls.append((places, cursor))
    outcomes: list[SpendOutcome | None] = [None] * len(spends)
    for places, cursor in calls:
        done = batch_outcomes([spends[i][0] for i in places], await cursor.fetchall())
        for place, outcome in zip(places, done, strict=True):
            outcomes[place] = outcome
    assert all(o is not None for o in outcomes), "every spend has its outcome"
    return [o for o in outcomes if o is not None]


def _actor(context: SpendContext) -> tuple[str, str | None]:
    return context.actor_type, context.actor_id


def _contexts(spends: list[Spend]) -> str:
    """Each ledger key's audit context; a key sent twice is applied (and audited) as the first."""
    contexts: dict[str, tuple[str, str | None, str | None, str | None]] = {}
    for request, context in spends:
        contexts.setdefault(request.ledger_key, context.parameters())
    return json.dumps(contexts, separators=(",", ":"))
