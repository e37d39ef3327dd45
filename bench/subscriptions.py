"""Subscriptions at scale: N live subscription workflows, created over HTTP with the same start,
so that all of them fall due at one instant; the time until every period is paid, its rate
against the purchase rate of the same run, and the worker's memory.

The memory per live subscription is the worker's RSS growth from the section's start to the
moment every subscription is created and waiting, over N: what a live subscription costs the
worker (past WORKER_MAX_CACHED_WORKFLOWS, nothing: the workflow is replayed when it falls due).
The wave's peak is shown beside it and not divided by N: the tasks and activities in flight at
once, bounded by the worker's slots, not by the number of subscriptions."""

import asyncio
import itertools
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from bench.figures import Figure, Goal, Limit, SectionResult
from bench.fixtures import admin_token, create_package, prepare_organizations, transaction
from bench.http_client import KeepAliveConnection
from bench.memory import PeakMemory
from bench.options import Options
from bench.stack import BenchStack
from tokenbill.settings import Settings

SECTION = "subscriptions"
INTERVAL = "P1D"  # one wave: the next period falls due a day later
PROBE_SIZE = 100
LEAD_MARGIN = 1.5  # the wave's due time leaves half as much time again as creating should take
POLL_EVERY = 1.0
KIB_PER_SUBSCRIPTION_GOAL = 50.0


@dataclass(frozen=True)
class Creation:
    created: int
    seconds: float
    late: int  # answered after the due time: their start moved to their creation


@dataclass(frozen=True)
class WaveState:
    paid: int
    unpaid: int  # periods written but not completed (declined, retrying)
    not_active: int
    last_paid_at: datetime | None


async def create_all(
    port: int, token: str, orgs: list[int], package: int, start: datetime, concurrency: int
) -> Creation:
    """POST one subscription per organization, `concurrency` at a time."""
    queue = iter(orgs)
    late = itertools.count()
    auth = {"Authorization": f"Bearer {token}"}

    async def creator() -> int:
        done = 0
        conn = await KeepAliveConnection.open("127.0.0.1", port)
        try:
            for org in queue:
                body = {"organization_id": org, "package_id": package,
                        "payment_method": "pm_card_ok", "billing_interval": INTERVAL,
                        "start_at": start.isoformat()}  # fmt: skip
                status, answer = await conn.post(
                    "/api/tokens/subscriptions", body, {**auth, "Idempotency-Key": f"sub-{org}"}
                )
                if status != 201:
                    raise RuntimeError(f"subscription answered {status}: {answer[:200]!r}")
                if datetime.now(UTC) >= start:
                    next(late)
                done += 1
        finally:
            await conn.close()
        return done

    began = time.monotonic()
    created = await asyncio.gather(*(creator() for _ in range(min(concurrency, len(orgs)))))
    return Creation(sum(created), time.monotonic() - began, next(late))


async def wave_state(settings: Settings, orgs: list[int], start: datetime) -> WaveState:
    async with transaction(settings) as session:
        row = (
            await session.execute(
                text(
                    "SELECT count(*) FILTER (WHERE status = 'completed'), "
                    "count(*) FILTER (WHERE status <> 'completed'), max(completed_at) "
                    "FROM token_purchases WHERE purchase_type = 'subscription' "
                    "AND organization_id = ANY(:orgs) AND purchase_reference_id LIKE :suffix"
                ),
                {"orgs": orgs, "suffix": f"%-{start.strftime('%Y%m%dT%H%M%SZ')}"},
            )
        ).one()
        not_active = await session.scalar(
            text(
                "SELECT count(*) FROM token_subscriptions "
                "WHERE organization_id = ANY(:orgs) AND status <> 'active'"
            ),
            {"orgs": orgs},
        )
    return WaveState(int(row[0]), int(row[1]), int(not_active or 0), row[2])


async def await_wave(
    stack: BenchStack, orgs: list[int], start: datetime, patience: float
) -> WaveState:
    deadline = start + timedelta(seconds=patience)
    while True:
        stack.check_running()
        state = await wave_state(stack.settings, orgs, start)
        if state.paid >= len(orgs) or datetime.now(UTC) > deadline:
            return state
        await asyncio.sleep(POLL_EVERY)


def mib(kib: int) -> float:
    return kib / 1024


async def run(
    stack: BenchStack, options: Options, purchase_rate: float, baseline_rate: float
) -> SectionResult:
    size, settings = options.subscriptions, stack.settings
    print(f"subscriptions: a wave of {size}", flush=True)
    memory = PeakMemory(stack.pid("worker")).start()
    token = await admin_token(settings, "wave-admin@bench.test")
    package = await create_package(settings, "Wave Pack")
    probe_orgs = await prepare_organizations(settings, "Probe", min(PROBE_SIZE, size))
    orgs = await prepare_organizations(settings, "Subscriber", size)
    # The probe's subscriptions start tomorrow: they time creation, to choose the wave's start.
    tomorrow = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    concurrency = options.subscription_concurrency
    probe = await create_all(stack.api_port, token, probe_orgs, package, tomorrow, concurrency)
    lead = 5 + LEAD_MARGIN * size * probe.seconds / probe.created
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=math.ceil(lead))
    print(f"  creating {size} subscriptions due at {start:%H:%M:%S} (in {lead:.0f}s)", flush=True)
    creation = await create_all(stack.api_port, token, orgs, package, start, concurrency)
    live_kib = memory.now_kib()
    print(f"  created in {creation.seconds:.1f}s ({creation.late} late); waiting", flush=True)
    state = await await_wave(stack, orgs, start, options.wave_timeout)
    peak_kib = await memory.stop()
    complete = state.paid == size and state.last_paid_at is not None
    wave_seconds = (state.last_paid_at - start).total_seconds() if state.last_paid_at else math.nan
    rate = state.paid / wave_seconds if complete else 0.0
    print(f"  {state.paid}/{size} paid in {wave_seconds:.1f}s: {rate:.1f}/s", flush=True)
    figures = [
        Figure(SECTION, f"wave of {size}: paid rate", rate, "subscriptions/s",
               "purchase throughput", purchase_rate, Goal(1.0)),
        Figure(SECTION, f"wave of {size}: paid rate", rate, "subscriptions/s",
               "3 no-op activities", baseline_rate),
        Figure(SECTION, "worker peak RSS", mib(peak_kib), "MiB", "worker RSS before",
               mib(memory.at_start_kib)),
    ]  # fmt: skip
    per_subscription = (live_kib - memory.at_start_kib) / size
    limits = [
        Limit(SECTION, "worker RSS growth per live subscription", per_subscription, "KiB",
              KIB_PER_SUBSCRIPTION_GOAL),
    ]  # fmt: skip
    facts: dict[str, float] = {
        "wave size": size,
        "wave seconds (due time to last period paid)": wave_seconds,
        "periods paid": state.paid,
        "periods unpaid": state.unpaid,
        "subscriptions not active": state.not_active,
        "subscriptions created late": creation.late,
        "creation rate (subscriptions/s)": creation.created / creation.seconds,
        "worker RSS with every subscription live (MiB)": mib(live_kib),
        "worker peak RSS (MiB)": mib(peak_kib),
        "worker lifetime peak RSS, VmHWM (MiB)": mib(memory.lifetime_peak_kib),
        "worker RSS growth per live subscription (KiB)": per_subscription,
        "worker RSS growth to the wave's peak (MiB)": mib(peak_kib - memory.at_start_kib),
    }
    return SectionResult(figures, facts, limits)
