"""Many single spends in one transaction: the spend coalescer's database half.

The spends are applied in organization order (arrival order within an organization), so every
wallet is locked in the same order as `ledger_spend_batch` locks them and two such transactions,
or one and a batch, never wait on each other in a cycle. Spends that share their audit context
(who, from where, which request) go to `ledger_spend_batch` in one call; each request has an id
of its own, so in practice each spend is one call, and the audit row of every spend names its
own caller and request. The calls, the BEGIN and the COMMIT travel in one pipeline: the server
runs them back to back, so a wallet's lock is never held while this process is busy elsewhere.
One COMMIT ends them all: if anything fails, nothing is applied.
"""

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


async def spend_together(
    conn: AsyncConnection[Row], spends: list[Spend], defaults: AlertDefaults
) -> list[SpendOutcome]:
    """Apply the spends in one transaction on an autocommit connection; the outcomes come back
    in the order of `spends`, each as the spend alone would have had it at its place in line."""
    order = sorted(range(len(spends)), key=lambda i: spends[i][0].organization_id)
    calls: list[tuple[list[int], AsyncCursor[Row]]] = []
    async with conn.pipeline(), conn.transaction():
        for context, run in groupby(order, key=lambda i: spends[i][1]):
            places = list(run)
            requests = [spends[i][0] for i in places]
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
