"""The chaos scenario from start to verdict: servers, population, traffic under faults, settling,
reconciliation, checks, report. The exit status is 0 only when every check passed."""

import asyncio
import json
import random
import shutil
import sys
import tempfile
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from chaos.book import Book
from chaos.book_checks import books_balanced, reconciliation_clean
from chaos.cards import CARDS
from chaos.client import ClientStats, ResilientClient
from chaos.faults import EVERY_KIND, FaultLog, FaultPlan, inject_faults
from chaos.gateway_book import SANDBOX_BOOK, GatewayBook, stripe_book
from chaos.holds_checks import holds_settled_as_answered
from chaos.holds_traffic import hold_traffic
from chaos.load import Traffic, drive
from chaos.money_checks import (
    charges_paired_with_tokens,
    one_charge_per_business_key,
    purchases_finished_once,
    spends_applied_as_answered,
)
from chaos.notification_checks import crossings_recorded, notifications_delivered
from chaos.options import Options, parse
from chaos.population import arrange, create_people
from chaos.provider_checks import one_provider_charge_per_key, provider_agrees_with_engine
from chaos.report import print_faults, print_stalls, print_traffic, print_verdicts
from chaos.settle import Settled, cancel_subscriptions, settle
from chaos.stack import JWT_SECRET, ChaosStack, GatewayFaultRates
from chaos.stalls import (
    GatewayFault,
    StallFigures,
    read_stalls,
    stall_figures,
    stall_verdict,
)
from chaos.verdict import Verdict
from chaos.webhook_sink import WebhookSink
from db.reconciliation import use_one_snapshot
from db.session import create_engine, create_session_maker
from tokenbill.settings import Settings
from workflows.converter import DATA_CONVERTER

WEBHOOK_FAILURE_RATE = 0.1


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    work_dir = options.work_dir or Path(tempfile.mkdtemp(prefix="tokenbill-chaos-"))
    stack = ChaosStack(
        work_dir,
        GatewayFaultRates(options.fault_rate, options.lost_response_rate, options.seed),
        external_database_url=options.database_url,
        api_count=options.apis,
        worker_count=options.workers,
        gateway=options.gateway,
    )
    where = f"database on {options.database_url}" if options.database_url else "own PostgreSQL"
    print(
        f"chaos: seed {options.seed}, {options.duration:.0f}s of traffic, {options.apis} API "
        f"and {options.workers} worker processes, {where}, {options.gateway} gateway, "
        f"work dir {work_dir}"
    )
    try:
        stack.start()
        verdicts = asyncio.run(scenario(stack, options))
    finally:
        stack.stop()
    failed = [v.name for v in verdicts if not v.passed]
    if failed:
        print(f"\nchaos: FAILED {len(failed)} of {len(verdicts)} checks: {'; '.join(failed)}")
        print(f"chaos: logs kept in {work_dir / 'logs'}")
        return 1
    print(f"\nchaos: all {len(verdicts)} checks passed")
    if not options.keep and options.work_dir is None:
        shutil.rmtree(work_dir, ignore_errors=True)
    return 0


def _settings(stack: ChaosStack) -> Settings:
    return Settings(_env_file=None, database_url=stack.database.url, jwt_secret=JWT_SECRET)


async def scenario(stack: ChaosStack, options: Options) -> list[Verdict]:
    settings = _settings(stack)
    rng = random.Random(options.seed)
    engine = create_engine(settings, pool_size=2)
    try:
        plans, api_key, packages = await create_people(
            create_session_maker(engine), settings, options.organizations
        )
    finally:
        await engine.dispose()
    sink = WebhookSink(WEBHOOK_FAILURE_RATE, random.Random(options.seed + 1))
    await sink.start()
    stats, book, log = ClientStats(), Book(), FaultLog()
    client = ResilientClient(stack.api_urls, stats)
    try:
        cards = CARDS[options.gateway]
        await arrange(client, plans, packages, book, sink.url, cards)
        stop = asyncio.Event()
        plan = FaultPlan(options.duration, options.worker_kill_every)
        traffic = Traffic(client, plans, api_key, packages["pack"], book, rng, stop, cards)
        running = asyncio.gather(
            drive(traffic),
            hold_traffic(traffic, book.holds),
            inject_faults(stack, plan, log, random.Random(options.seed + 2), stop),
        )
        await asyncio.sleep(options.duration)
        stop.set()
        await running
        traffic_end = datetime.now(UTC)
        print("chaos: traffic over; cancelling subscriptions and letting the system settle")
        await cancel_subscriptions(client, plans, book)
        # The gateway's own fault log first: the stall check tells a charge it failed on
        # purpose from a stalled workflow.
        log.add_gateway_faults(stack.gateway_fault_logs())
        verdicts, stalls = await conclude(
            stack, options, book, log.kills(), traffic_end, log.gateway_faults()
        )
    finally:
        await client.close()
        await sink.stop()
    injected = Verdict("faults of every kind were injected", str(dict(log.counts())))
    injected.violations = [
        f"no {kind} was injected" for kind in EVERY_KIND if not log.counts()[kind]
    ]
    verdicts.insert(0, injected)
    print_faults(log)
    print(f"  webhook deliveries answered 503 by the receiver: {sink.refused} of {sink.received}")
    print_traffic(book, stats)
    print_stalls(stalls)
    print_verdicts(verdicts)
    if options.summary is not None:
        write_summary(options.summary, log, verdicts, stalls)
    return verdicts


async def conclude(
    stack: ChaosStack, options: Options, book: Book, kills: list[datetime], traffic_end: datetime,
    gateway_faults: list[GatewayFault],
) -> tuple[list[Verdict], StallFigures]:  # fmt: skip
    settings = _settings(stack)
    sticky = settings.worker_sticky_queue_timeout
    engine = create_engine(settings, pool_size=4)
    temporal = await Client.connect(stack.temporal.address, data_converter=DATA_CONVERTER)
    try:
        session_maker = create_session_maker(engine)
        settled = await settle(session_maker, temporal, options.settle_timeout)
        verdicts = [settled_verdict(settled)]
        gateway = SANDBOX_BOOK
        if stack.stripe is not None:
            gateway = await stripe_book(stack.stripe.url, stack.stripe.api_key)
            verdicts.append(one_provider_charge_per_key(gateway))
        verdicts += await run_checks(session_maker, settings, book, settled, gateway)
        async with session_maker() as session:
            stalls = await read_stalls(
                session, temporal, kills, traffic_end, sticky, gateway_faults
            )
        verdicts.append(stall_verdict(stalls, sticky))
        return verdicts, stall_figures(stalls, sticky)
    finally:
        await engine.dispose()


def settled_verdict(settled: Settled) -> Verdict:
    verdict = Verdict("the system settled", f"{settled.seconds:.1f}s after the traffic")
    verdict.violations = [f"{what}: {count}" for what, count in settled.unsettled.items()]
    return verdict


async def run_checks(
    session_maker: async_sessionmaker[AsyncSession], settings: Settings, book: Book,
    settled: Settled, gateway: GatewayBook = SANDBOX_BOOK,
) -> list[Verdict]:  # fmt: skip
    low, critical = settings.token_low_balance_threshold, settings.token_critical_balance_threshold
    async with session_maker() as session, session.begin():
        await use_one_snapshot(session)
        checks: list[Awaitable[Verdict | list[Verdict]]] = [
            purchases_finished_once(session, book),
            charges_paired_with_tokens(session, gateway),
            one_charge_per_business_key(session, gateway),
            spends_applied_as_answered(session, book),
            holds_settled_as_answered(session, book.holds),
            books_balanced(session),
            crossings_recorded(session, low, critical),
            notifications_delivered(session),
        ]
        if gateway.records is not None:
            checks.append(provider_agrees_with_engine(session, gateway))
        verdicts = [v for check in checks for v in await guarded(check)]
    async with session_maker() as session:
        verdicts += await guarded(reconciliation_clean(session, settled.reconciliation_workflow))
    return verdicts


async def guarded(check: Awaitable[Verdict | list[Verdict]]) -> list[Verdict]:
    """A check that cannot run is a failed check, reported with the others."""
    try:
        found = await check
    except Exception as error:
        return [Verdict("a check could run", violations=[f"{type(error).__name__}: {error}"])]
    return found if isinstance(found, list) else [found]


def write_summary(path: Path, log: FaultLog, verdicts: list[Verdict], stalls: StallFigures) -> None:
    summary = {
        "faults": dict(log.counts()),
        "stall_seconds": stalls,
        "checks": [
            {"name": v.name, "passed": v.passed, "violations": v.violations[:50]} for v in verdicts
        ],
    }
    path.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    sys.exit(main())
