"""Purchases end to end (HTTP 202 until the purchase reads completed) against a workflow of three
no-op activities, started and awaited through Temporal at the same concurrency."""

import json
import time
import uuid
from dataclasses import dataclass, field

from temporalio.client import Client

from bench.baseline_worker import BASELINE_TASK_QUEUE, BASELINE_WORKFLOW
from bench.cpu import cpu_seconds, spent
from bench.figures import Caller, Figure, Goal, Latencies, SectionResult, closed_loop
from bench.fixtures import Buyer, create_package, prepare_buyers
from bench.http_client import KeepAliveConnection
from bench.options import Options
from bench.stack import BenchStack
from workflows.converter import DATA_CONVERTER

SECTION = "purchases"
BASELINE = "3 no-op activities"
TERMINAL = ("completed", "failed", "refunded")
WAIT_SECONDS = 30
WARM_UP = 3.0
TURNS = 2


async def settle(conn: KeepAliveConnection, reference: str, auth: dict[str, str]) -> str:
    """The purchase's final status, waited for by the API (wait_seconds), then read again."""
    for _ in range(10):
        status, body = await conn.get(
            f"/api/tokens/purchases/{reference}?wait_seconds={WAIT_SECONDS}", auth
        )
        if status != 200:
            raise RuntimeError(f"reading purchase {reference} answered {status}: {body[:200]!r}")
        state = str(json.loads(body)["status"])
        if state in TERMINAL:
            return state
    return "unsettled"


def http_buyers(ports: list[int], buyers: list[Buyer], package: int, tally: Latencies) -> Caller:
    """Purchases over HTTP, buyer n talking to the API on ports[n % len(ports)]."""

    async def work(number: int, deadline: float) -> int:
        buyer = buyers[number % len(buyers)]
        auth = {"Authorization": f"Bearer {buyer.token}"}
        body = {"organization_id": buyer.organization_id, "package_id": package,
                "payment_method": "pm_card_ok"}  # fmt: skip
        done = 0
        conn = await KeepAliveConnection.open("127.0.0.1", ports[number % len(ports)])
        try:
            while time.monotonic() < deadline:
                started = time.monotonic()
                status, answer = await conn.post(
                    "/api/tokens/purchases", body, {**auth, "Idempotency-Key": uuid.uuid4().hex}
                )
                if status != 202:
                    raise RuntimeError(f"purchase answered {status}: {answer[:200]!r}")
                reference = str(json.loads(answer)["purchase_reference_id"])
                outcome = await settle(conn, reference, auth)
                tally.record(time.monotonic() - started, outcome)
                done += outcome == "completed"
        finally:
            await conn.close()
        return done

    return work


def baseline_starters(client: Client, tally: Latencies) -> Caller:
    async def work(number: int, deadline: float) -> int:
        done = 0
        while time.monotonic() < deadline:
            started = time.monotonic()
            reference = uuid.uuid4().hex
            handle = await client.start_workflow(
                BASELINE_WORKFLOW, reference, id=f"bench-noop-{reference}",
                task_queue=BASELINE_TASK_QUEUE, result_type=str,
            )  # fmt: skip
            outcome = "completed" if await handle.result() == reference else "wrong result"
            tally.record(time.monotonic() - started, outcome)
            done += outcome == "completed"
        return done

    return work


@dataclass
class Mode:
    """One mode's completed work, time and CPU time per server over its turns."""

    caller: Caller
    tally: Latencies
    done: int = 0
    elapsed: float = 0.0
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.done / self.elapsed

    @property
    def cpu_ms(self) -> dict[str, float]:
        """CPU time per completed workflow, by server."""
        return {name: 1000 * s / max(self.done, 1) for name, s in self.cpu_seconds.items()}


async def measure_interleaved(
    stack: BenchStack, concurrency: int, seconds: float, modes: list[Mode]
) -> None:
    """Each mode for `seconds` in all, in TURNS turns taken in order (baseline, purchases,
    baseline, ...), so a machine whose load drifts weighs on both alike; a warm-up before each
    mode's first turn."""
    groups = stack.process_groups()
    for turn in range(TURNS):
        for mode in modes:
            before: dict[str, float] = {}

            def measuring(
                mode: Mode = mode, before: dict[str, float] = before, first: bool = turn == 0
            ) -> None:
                if first:  # drop what the warm-up recorded
                    mode.tally.clear()
                before.update(cpu_seconds(groups))

            warm_up = min(WARM_UP, seconds) if turn == 0 else 0.0
            done, elapsed = await closed_loop(
                concurrency, seconds / TURNS, mode.caller, warm_up, measuring
            )
            mode.done += done
            mode.elapsed += elapsed
            for name, used in spent(before, cpu_seconds(groups)).items():
                mode.cpu_seconds[name] = mode.cpu_seconds.get(name, 0.0) + used


async def run(stack: BenchStack, options: Options) -> SectionResult:
    concurrency = options.purchase_concurrency
    print(f"purchases: {concurrency} buyers, {options.purchase_seconds:g}s per mode in {TURNS} "
          "interleaved turns", flush=True)  # fmt: skip
    settings = stack.settings
    buyers = await prepare_buyers(settings, "Buyer", concurrency)
    package = await create_package(settings, "Bench Pack")
    assert settings.temporal_address is not None
    client = await Client.connect(settings.temporal_address, data_converter=DATA_CONVERTER)
    base, bought = Latencies.empty(), Latencies.empty()
    baseline = Mode(baseline_starters(client, base), base)
    purchase = Mode(http_buyers([stack.api_port], buyers, package, bought), bought)
    await measure_interleaved(stack, concurrency, options.purchase_seconds, [baseline, purchase])
    base_rate, rate = baseline.rate, purchase.rate
    for name, mode in ((BASELINE, baseline), ("purchase over HTTP", purchase)):
        print(f"  {name:<30} {mode.rate:>8.1f}/s p50 {mode.tally.ms(0.5):.0f} ms "
              f"p99 {mode.tally.ms(0.99):.0f} ms", flush=True)  # fmt: skip
    figures = [
        Figure(SECTION, "throughput", rate, "purchases/s", BASELINE, base_rate, Goal(0.9)),
        Figure(SECTION, "p50 latency", bought.ms(0.5), "ms", BASELINE, base.ms(0.5),
               Goal(1.5, at_least=False)),
        Figure(SECTION, "p99 latency", bought.ms(0.99), "ms", BASELINE, base.ms(0.99),
               Goal(1.5, at_least=False)),
    ]  # fmt: skip
    facts: dict[str, float] = {
        "purchases measured": len(bought.seconds),
        "purchases completed": bought.outcomes.get("completed", 0),
        "baseline workflows measured": len(base.seconds),
        "baseline workflows completed": base.outcomes.get("completed", 0),
        "purchase rate": rate,
        "baseline rate": base_rate,
    }
    for label, tally in (("purchase", bought), ("baseline", base)):
        for fraction in (0.9, 0.95, 1.0):
            facts[f"{label} p{fraction * 100:g} ms"] = tally.ms(fraction)
    for server, ms in purchase.cpu_ms.items():
        facts[f"CPU ms per purchase: {server}"] = ms
    for server, ms in baseline.cpu_ms.items():
        facts[f"CPU ms per baseline workflow: {server}"] = ms
    return SectionResult(figures, facts)
