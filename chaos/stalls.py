"""How long subscriptions stalled after each worker kill, read from the periods' purchase rows.

A worker killed with workflows in its cache leaves their next tasks on its own (sticky) queue,
where they wait for the sticky queue timeout before any other worker may take them. So for each
kill and each subscription, the first period that had not started at the kill is timed: from its
due time (or the kill, if later) to the moment its purchase row was written (its first activity),
which is the wait the sticky queue governs. Periods already being paid at the kill are timed
apart, to their completion. An activity lost with its worker is retried only after its own
start-to-close timeout, which the sticky queue does not bound: a wait longer than the sticky
timeout is looked up in its workflow's history, and one whose workflow had an activity in flight
at the kill (or saw a workflow task time out) is held to that timeout on top. The row is written
once the period's charge succeeds, so a charge the sandbox gateway failed on purpose meanwhile
(a processing error, a lost answer: retried after its backoff or its timeout) delays it for
reasons the sticky queue does not govern: such a wait is counted apart, not held to the limit
(the money checks still hold its period to one charge and one credit).
"""

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from chaos.verdict import Verdict
from db.models import TokenPurchase
from workflows.subscription_activity_types import period_key

# Beyond the sticky timeout, a stalled workflow's task must still be taken from the task queue,
# its history replayed on the worker that takes it and its first activity (the row) run. In four
# 60 s runs (2 APIs, 2 workers) on the shared two-core machine, the periods no kill disturbed took
# 1.5 to 3.5 s from due time to row, gateway faults and their retries included; waits after a kill
# reached 14.5 s against a 15 s limit on that loaded machine. The margin is 15 s, so a loaded CI
# machine does not fail the check, which still catches the minutes-long stall it exists for.
MARGIN = timedelta(seconds=15)
# What the summary shows, in seconds (None when nothing was measured).
StallFigures = dict[str, float | None]
HISTORY_SHOWN = 12


@dataclass(frozen=True)
class Period:
    subscription_id: int
    due: datetime
    started: datetime  # its purchase row written
    completed: datetime | None
    workflow_id: str


@dataclass(frozen=True)
class Stall:
    kill: datetime
    subscription_id: int
    seconds: float
    workflow_id: str = ""
    until: datetime | None = None
    lost_activity: timedelta | None = None  # the timeout of work in flight at the kill
    history: str = ""  # its workflow's events meanwhile, for a long wait
    due: datetime | None = None  # the period's start
    charge_faults: int = 0  # gateway faults injected on its charge between the kill and the row


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
    """The periods of every subscription that never had one declined: a declined period puts
    its subscription on the dunning schedule, so its later periods do not start on their
    billing dates (the run subscribes one organization on a declining card)."""
    declined = select(TokenPurchase.subscription_id).where(
        TokenPurchase.subscription_id.is_not(None),
        (TokenPurchase.failure_reason.is_not(None)) | (TokenPurchase.status == "failed"),
    )
    rows = await session.execute(
        select(
            TokenPurchase.subscription_id,
            TokenPurchase.purchase_reference_id,
            TokenPurchase.processing_at,
            TokenPurchase.completed_at,
            TokenPurchase.workflow_id,
        )
        .where(TokenPurchase.purchase_type == "subscription")
        .where(TokenPurchase.processing_at.is_not(None))
        .where(TokenPurchase.subscription_id.not_in(declined))
    )
    return sorted(
        (
            Period(int(row[0]), due_time(row[1]), row[2], row[3], row[4])
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
            waiting.append(
                Stall(
                    kill, subscription_id, seconds, period.workflow_id, period.started,
                    due=period.due,
                )
            )  # fmt: skip
    undisturbed = [
        (p.started - p.due).total_seconds()
        for p in periods
        if p.due <= traffic_end and not any(p.due - quiet <= k <= p.started for k in kills)
    ]
    return Stalls(waiting, paying, undisturbed)


@dataclass(frozen=True)
class History:
    """What a workflow's history shows between two moments."""

    lost_activity: timedelta | None  # the longest timeout of work in flight at the kill
    events: str  # the events, abridged


CLOSING = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity_task_completed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity_task_failed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity_task_timed_out_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "activity_task_canceled_event_attributes",
}


async def history_between(
    temporal: Client, workflow_id: str, since: datetime, until: datetime
) -> History:
    """The events of every run of the workflow between the two moments; and the longest timeout
    of the work in flight at `since` (the kill) that a killed worker may have taken with it: an
    activity scheduled and not closed by then (retried after its start-to-close timeout), or a
    workflow task that timed out meanwhile (retried after the workflow task timeout)."""
    scheduled: dict[tuple[str, int], tuple[datetime, timedelta]] = {}
    closed: dict[tuple[str, int], datetime] = {}
    lost: list[timedelta] = []
    seen: list[str] = []
    async for run in temporal.list_workflows(f"WorkflowId = '{workflow_id}'"):
        handle = temporal.get_workflow_handle(workflow_id, run_id=run.run_id)
        task_timeout = timedelta(seconds=10)
        async for event in handle.fetch_history_events():
            moment = event.event_time.ToDatetime(UTC)
            kind = event.event_type
            if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                started = event.workflow_execution_started_event_attributes
                task_timeout = started.workflow_task_timeout.ToTimedelta()
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                timeout = event.activity_task_scheduled_event_attributes.start_to_close_timeout
                scheduled[(run.run_id, event.event_id)] = (moment, timeout.ToTimedelta())
            elif kind in CLOSING:
                attributes = getattr(event, CLOSING[kind])
                closed[(run.run_id, attributes.scheduled_event_id)] = moment
            if not since < moment <= until:
                continue
            if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                lost.append(task_timeout)
            name = EventType.Name(kind).removeprefix("EVENT_TYPE_")
            seen.append(f"{moment:%H:%M:%S.%f}"[:-3] + f" {name}")
    lost += [
        timeout
        for key, (at, timeout) in scheduled.items()
        if at <= since and closed.get(key, until) > since
    ]
    shown = seen if len(seen) <= HISTORY_SHOWN else [*seen[:HISTORY_SHOWN], "..."]
    return History(max(lost, default=None), "; ".join(shown) or "no event")


GatewayFault = tuple[datetime, str]  # when, and the operation and key it hit ("charge <key>")


def charge_faults(stall: Stall, faults: list[GatewayFault]) -> int:
    """The gateway faults injected on the stalled period's charge (any attempt's key) between
    the kill and the period's row."""
    if stall.due is None or stall.until is None:
        return 0
    stem = f"charge {period_key(stall.subscription_id, stall.due)}:charge"
    return sum(
        1
        for moment, detail in faults
        if stall.kill <= moment <= stall.until and (detail == stem or detail.startswith(stem + ":"))
    )


async def explain_long_waits(
    temporal: Client, stalls: Stalls, sticky: timedelta, faults: list[GatewayFault]
) -> Stalls:
    """Each wait over the sticky timeout + MARGIN, with what its workflow's history shows and
    the gateway faults injected on its charge meanwhile."""
    explained: list[Stall] = []
    for stall in stalls.waiting:
        if stall.until is not None and stall.seconds > (sticky + MARGIN).total_seconds():
            found = await history_between(temporal, stall.workflow_id, stall.kill, stall.until)
            stall = replace(
                stall, lost_activity=found.lost_activity, history=found.events,
                charge_faults=charge_faults(stall, faults),
            )  # fmt: skip
        explained.append(stall)
    return replace(stalls, waiting=explained)


def limit_of(stall: Stall, sticky: timedelta) -> float:
    """The sticky timeout + MARGIN; with work in flight at the kill, its timeout on top."""
    return (sticky + MARGIN + (stall.lost_activity or timedelta(0))).total_seconds()


def describe(stall: Stall | None) -> str:
    if stall is None:
        return "none measured"
    cause = (
        ""
        if stall.lost_activity is None
        else f", work of a {stall.lost_activity.seconds}s timeout in flight"
    )
    if stall.charge_faults:
        cause += f", {stall.charge_faults} gateway faults on its charge"
    return (
        f"{stall.seconds:.1f}s (subscription {stall.subscription_id}, "
        f"kill at {stall.kill:%H:%M:%S}{cause})"
    )


def stall_verdict(stalls: Stalls, sticky: timedelta) -> Verdict:
    """No subscription waited, after a worker kill, longer than the sticky timeout + MARGIN
    (plus the timeout of the work its workflow had in flight at the kill, if any)."""
    limit = (sticky + MARGIN).total_seconds()
    held = [s for s in stalls.waiting if not s.charge_faults]
    queue_bound = [s for s in held if s.lost_activity is None]
    activity_bound = [s for s in held if s.lost_activity is not None]
    gateway_bound = [s for s in stalls.waiting if s.charge_faults]
    longest = describe(Stalls.longest(queue_bound))
    verdict = Verdict(
        f"no subscription stalled over the sticky timeout + {MARGIN.seconds}s after a worker kill",
        f"{len(stalls.waiting)} waits after kills; longest {longest}, "
        f"limit {limit:g}s; {len(activity_bound)} over it with work in flight at the kill, longest "
        f"{describe(Stalls.longest(activity_bound))}; {len(gateway_bound)} with gateway faults "
        f"injected on its charge (not held to the limit), longest "
        f"{describe(Stalls.longest(gateway_bound))}",
    )
    verdict.violations = [
        f"subscription {s.subscription_id} waited {s.seconds:.1f}s after the kill at "
        f"{s.kill:%H:%M:%S} (limit {limit_of(s, sticky):g}s); its workflow meanwhile: {s.history}"
        for s in held
        if s.seconds > limit_of(s, sticky)
    ]
    return verdict


async def read_stalls(
    session: AsyncSession, temporal: Client, kills: list[datetime], traffic_end: datetime,
    sticky: timedelta, faults: list[GatewayFault],
) -> Stalls:  # fmt: skip
    stalls = measure(await subscription_periods(session), kills, traffic_end, sticky + MARGIN)
    return await explain_long_waits(temporal, stalls, sticky, faults)


def stall_figures(stalls: Stalls, sticky_timeout: timedelta) -> StallFigures:
    held = [s for s in stalls.waiting if not s.charge_faults]
    waiting = Stalls.longest([s for s in held if s.lost_activity is None])
    lost = Stalls.longest([s for s in held if s.lost_activity is not None])
    faulted = Stalls.longest([s for s in stalls.waiting if s.charge_faults])
    paying = Stalls.longest(stalls.paying)
    calm = sorted(stalls.undisturbed)
    return {
        "longest wait after a worker kill": waiting.seconds if waiting else None,
        "limit (sticky timeout + margin)": (sticky_timeout + MARGIN).total_seconds(),
        "longest wait with work in flight at the kill": lost.seconds if lost else None,
        "longest wait with gateway faults on its charge": faulted.seconds if faulted else None,
        "longest payment in flight at a kill, to its completion": (
            paying.seconds if paying else None
        ),
        "undisturbed periods, median due-to-start": calm[len(calm) // 2] if calm else None,
        "undisturbed periods, longest due-to-start": calm[-1] if calm else None,
    }
