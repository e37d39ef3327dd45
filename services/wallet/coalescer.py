"""Coalescing concurrent ledger operations of one kind or several: single spends, new holds,
captures and releases of holds. The operations that reach this process within a short window
(SPEND_COALESCE_WINDOW, or as soon as SPEND_COALESCE_MAX_BATCH are waiting) are applied in one
database transaction, and each caller gets its own operation's outcome.

On a hot wallet every operation otherwise waits for the one before it to commit (the wallet's
row lock is held across each commit's flush to disk); in one transaction the lock is taken once
and the disk is flushed once for the whole group. What a caller sees does not change: its own
idempotency key and replay, `insufficient_balance` when its spend or hold no longer fits after
the operations that arrived before it, `hold_not_active` for a hold settled earlier in the
group, the same answer. If the transaction fails nothing of it is applied and every caller in it
gets the error, so each may retry. The cost is latency: an operation waits up to the window
before its transaction starts.

Adaptive window (the default in the API): an operation that arrives when this process has no
group in flight and none forming starts its transaction at once, so a lone caller pays no
window; the window opens only when another operation is already in flight, which is exactly
when there is something to group with.
"""

import asyncio
from dataclasses import dataclass

from psycopg import AsyncConnection

from db.holds import HoldOutcome, HoldRequest, SettleRequest, place_hold, settle_hold
from db.spend_pool import SpendPool
from db.spend_together import Operation, Outcome, apply_together
from db.spending import AlertDefaults, SpendContext, SpendOutcome, SpendRequest, spend

Connection = AsyncConnection[tuple[object, ...]]


@dataclass(frozen=True)
class _Waiting:
    request: Operation
    context: SpendContext
    answer: asyncio.Future[Outcome]


class LedgerCoalescer:
    """Collects single ledger operations and applies them in groups; `spend`, `hold` and
    `settle` each answer one caller.

    A wallet is in at most one group in flight: the operations that arrive for it meanwhile
    wait for that group to commit and then go together in the next one. They would wait as long
    for the wallet's row lock in the database, holding a connection each; waiting here lets the
    next group take all of them at once, so a hot wallet commits once per group, not per
    operation.
    """

    def __init__(
        self,
        pool: SpendPool,
        defaults: AlertDefaults,
        window_seconds: float,
        max_batch: int,
        *,
        adaptive: bool = False,
    ) -> None:
        if window_seconds <= 0 or max_batch < 1:
            raise ValueError("a coalescer needs a positive window and batch size")
        self._pool = pool
        self._defaults = defaults
        self._window = window_seconds
        self._max_batch = max_batch
        self._adaptive = adaptive
        self._waiting: list[_Waiting] = []
        self._busy: set[int] = set()  # organizations with a group in flight
        self._timer: asyncio.TimerHandle | None = None
        self._in_flight: set[asyncio.Task[None]] = set()

    async def spend(self, request: SpendRequest, context: SpendContext) -> SpendOutcome:
        """The spend's outcome once its group's transaction has committed; the transaction's
        error (nothing of it applied) when it failed."""
        outcome = await self._apply_one(request, context)
        assert isinstance(outcome, SpendOutcome)
        return outcome

    async def hold(self, request: HoldRequest, context: SpendContext) -> HoldOutcome:
        """A new hold's outcome (or its replay's), as `spend` answers a spend."""
        outcome = await self._apply_one(request, context)
        assert isinstance(outcome, HoldOutcome)
        return outcome

    async def settle(self, request: SettleRequest, context: SpendContext) -> HoldOutcome:
        """A capture's or a release's outcome, as `spend` answers a spend."""
        outcome = await self._apply_one(request, context)
        assert isinstance(outcome, HoldOutcome)
        return outcome

    async def _apply_one(self, request: Operation, context: SpendContext) -> Outcome:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Outcome] = loop.create_future()
        self._waiting.append(_Waiting(request, context, answer))
        alone = self._adaptive and len(self._waiting) == 1 and not self._in_flight
        if alone or len(self._waiting) >= self._max_batch:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self._window, self._flush)
        return await answer

    async def close(self) -> None:
        """Apply what is waiting and let the transactions in flight finish."""
        while self._waiting or self._in_flight:
            self._flush()
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    def _flush(self) -> None:
        """Send every operation whose wallet is free, in groups of at most the batch size; the
        others stay waiting for their wallet's group to finish."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while True:
            group: list[_Waiting] = []
            held: list[_Waiting] = []
            for waiting in self._waiting:
                free = waiting.request.organization_id not in self._busy
                (group if free and len(group) < self._max_batch else held).append(waiting)
            if not group:
                return
            self._waiting = held
            self._busy.update(w.request.organization_id for w in group)
            task = asyncio.get_running_loop().create_task(self._apply(group))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _apply(self, group: list[_Waiting]) -> None:
        outcomes: list[Outcome] = []
        error: Exception | None = None
        try:
            outcomes = await self._run(group)
        except Exception as exc:
            error = exc
        except BaseException:  # cancelled (shutdown): nobody may wait for ever
            for waiting in group:
                waiting.answer.cancel()
            raise
        finally:
            # The group's wallets are free: the next group is on its way to the database before
            # this one's callers are answered, so a hot wallet's lock does not idle meanwhile.
            self._busy.difference_update(w.request.organization_id for w in group)
            if self._waiting:
                self._flush()
        for number, waiting in enumerate(group):
            if waiting.answer.done():  # a caller that went away has nobody to answer
                continue
            if error is not None:
                waiting.answer.set_exception(error)
            else:
                waiting.answer.set_result(outcomes[number])

    async def _run(self, group: list[_Waiting]) -> list[Outcome]:
        async with self._pool.connection() as conn:
            if len(group) == 1:  # alone: the plain single statement, no pipeline
                return [await self._alone(conn, group[0])]
            return await apply_together(
                conn, [(w.request, w.context) for w in group], self._defaults
            )

    async def _alone(self, conn: Connection, waiting: _Waiting) -> Outcome:
        request, context = waiting.request, waiting.context
        if isinstance(request, SpendRequest):
            return await spend(conn, request, self._defaults, context)
        if isinstance(request, HoldRequest):
            return await place_hold(conn, request, context, self._defaults)
        return await settle_hold(
            conn, request.organization_id, request.hold_id, request.outcome, request.amount,
            context,
        )  # fmt: skip


SpendCoalescer = LedgerCoalescer
"""Its name from when it grouped spends only."""
