"""How long subscriptions stalled after each worker kill, read from the periods' purchase rows.

A worker killed with workflows in its cache leaves their next tasks on its own (sticky) queue,
where they wait for the sticky queue timeout before any other worker may take them. So for each
kill and each subscription, the first period that had not started at the kill is timed: from its
due time (or the kill, if later) to the moment its purchase row was written (its first activity),
which is the wait the sticky queue governs. Periods already being paid at the kill are timed
apart, to their completion: an activity lost with its worker is retried only after its own
start-to-close timeout, which the sticky queue does not bound.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chaos.verdict import Verdict
from db.models import TokenPurchase

# Beyond the sticky timeout, a stalled workflow's task must still be taken from the task queue,
# its history replayed on the worker that takes it and its first activity (the row) run: on the
# shared two-core machine the undisturbed periods of a run take up to ~2 s for that, so 5 s.
MARGIN = timedelta(seconds=5)
# What the summary shows, in seconds (None when nothing was measured).
StallFigures = dict[str, float | None]


@dataclass(frozen=True)
class Period:
    subscription_id: int
    due: datetime
    started: datetime  # its purchase row written
    completed: datetime | None


@dataclass(frozen=True)
class Stall:
    kill: datetime
    subscription_id: int
    seconds: float


@dataclass(frozen=True)
class Stalls:
    waiting: list[Stall]  # periods not yet started at the kill: the sticky queue's wait
    paying: list[Stall]  # periods being paid at the kill, to their completion
    undisturbed: list[float]  # due to started, of periods with no kill near them

    @staticmethod
    def longest(stalls: list[Stall]) -> Stall | None:
        return max(stalls, key=lambda s: s.seconds, default=None)


def due_time(reference: str) -> datetime:
    """`SUB-<id>-<period start as 20260131T000000Z>`: the period's start."""
    return datetime.strptime(reference.rsplit("-", 1)[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


async def subscription_periods(session: AsyncSession) -> list[Period]:
    rows = await session.execute(
        select(
            TokenPurchase.subscription_id,
            TokenPurchase.purchase_reference_id,
            TokenPurchase.processing_at,
            TokenPurchase.completed_at,
        )
        .where(TokenPurchase.purchase_type == "subscription")
        .where(TokenPurchase.processing_at.is_not(None))
    )
    return sorted(
        (
            Period(int(row[0]), due_time(row[1]), row[2], row[3])
            for row in rows
            if row[0] is not None and row[2] is not None
        ),
        key=lambda p: p.started,
    )


def measure(
    periods: list[Period], kills: list[datetime], traffic_end: datetime, quiet: timedelta
) -> Stalls:
    """Each kill's stall of each subscription (only periods that fell due during the traffic:
    the subscriptions are cancelled after it); and, for comparison, the periods with no kill
    from `quiet` before their due time to their start."""
    waiting: list[Stall] = []
    paying: list[Stall] = []
    for kill in kills:
        first: dict[int, Period] = {}
        for period in periods:
            if period.due > traffic_end:
                continue
            if period.started <= kill:
                if period.completed is not None and period.completed > kill:
                    seconds = (period.completed - kill).total_seconds()
                    paying.append(Stall(kill, period.subscription_id, seconds))
            elif period.subscription_id not in first:
                first[period.subscription_id] = period
        for subscription_id, period in first.items():
            seconds = (period.started - max(kill, period.due)).total_seconds()
            waiting.append(Stall(kill, subscription_id, seconds))
    undisturbed = [
        (p.started - p.due).total_seconds()
        for p in periods
        if p.due <= traffic_end and not any(p.due - quiet <= k <= p.started for k in kills)
    ]
    return Stalls(waiting, paying, undisturbed)


def describe(stall: Stall | None) -> str:
    if stall is None:
        return "none measured"
    return (
        f"{stall.seconds:.1f}s (subscription {stall.subscription_id}, "
        f"kill at {stall.kill:%H:%M:%S})"
    )


def stall_verdict(stalls: Stalls, sticky_timeout: timedelta) -> Verdict:
    """No subscription waited, after a worker kill, longer than the sticky timeout + MARGIN."""
    limit = (sticky_timeout + MARGIN).total_seconds()
    longest = Stalls.longest(stalls.waiting)
    verdict = Verdict(
        f"no subscription stalled over the sticky timeout + {MARGIN.seconds}s after a worker kill",
        f"{len(stalls.waiting)} waits after kills; longest {describe(longest)}; limit {limit:g}s",
    )
    verdict.violations = [
        f"subscription {s.subscription_id} waited {s.seconds:.1f}s after the kill at "
        f"{s.kill:%H:%M:%S}"
        for s in stalls.waiting
        if s.seconds > limit
    ]
    return verdict


async def read_stalls(
    session: AsyncSession, kills: list[datetime], traffic_end: datetime, sticky: timedelta
) -> Stalls:
    return measure(await subscription_periods(session), kills, traffic_end, sticky + MARGIN)


def stall_figures(stalls: Stalls, sticky_timeout: timedelta) -> StallFigures:
    waiting, paying = Stalls.longest(stalls.waiting), Stalls.longest(stalls.paying)
    calm = sorted(stalls.undisturbed)
    return {
        "longest wait after a worker kill": waiting.seconds if waiting else None,
        "limit (sticky timeout + margin)": (sticky_timeout + MARGIN).total_seconds(),
        "longest payment in flight at a kill, to its completion": (
            paying.seconds if paying else None
        ),
        "undisturbed periods, median due-to-start": calm[len(calm) // 2] if calm else None,
        "undisturbed periods, longest due-to-start": calm[-1] if calm else None,
    }
