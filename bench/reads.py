"""Reads: GET wallet and GET purchase at many concurrent clients, against GET /api/health on the
same server (no database, no authentication: the floor of the framework itself); and the
console's wallet page for a signed-in user, against GET wallet over the API."""

import json
import time
import uuid
from dataclasses import dataclass, field

from bench.cpu import cpu_seconds, spent
from bench.figures import Caller, Figure, Goal, Latencies, SectionResult, closed_loop
from bench.fixtures import console_cookie, create_package, prepare_buyers
from bench.http_client import KeepAliveConnection
from bench.options import Options
from bench.purchases import settle
from bench.stack import BenchStack

SECTION = "reads"
HEALTH = "GET /api/health"
WALLET = "GET wallet"
CONSOLE = "console wallet page"
# The page reads more than the API's wallet (forecast, expiring lots, last movements) and renders
# HTML, yet should stay near it (issue 12).
CONSOLE_GOAL = Goal(0.7)
# An authenticated read of one row should cost about what the health check does (issue 15).
READ_GOAL = Goal(0.8)
ROUNDS = 3


def getters(port: int, path: str, headers: dict[str, str], tally: Latencies) -> Caller:
    async def work(number: int, deadline: float) -> int:
        done = 0
        conn = await KeepAliveConnection.open("127.0.0.1", port)
        try:
            while time.monotonic() < deadline:
                started = time.monotonic()
                status, body = await conn.get(path, headers)
                if status != 200:
                    raise RuntimeError(f"GET {path} answered {status}: {body[:200]!r}")
                tally.record(time.monotonic() - started, "ok")
                done += 1
        finally:
            await conn.close()
        return done

    return work


async def one_purchase(port: int, organization_id: int, package: int, auth: dict[str, str]) -> str:
    conn = await KeepAliveConnection.open("127.0.0.1", port)
    try:
        body = {"organization_id": organization_id, "package_id": package,
                "payment_method": "pm_card_ok"}  # fmt: skip
        status, answer = await conn.post(
            "/api/tokens/purchases", body, {**auth, "Idempotency-Key": uuid.uuid4().hex}
        )
        if status != 202:
            raise RuntimeError(f"purchase answered {status}: {answer[:200]!r}")
        reference = str(json.loads(answer)["purchase_reference_id"])
        if await settle(conn, reference, auth) != "completed":
            raise RuntimeError(f"the purchase {reference} to read did not complete")
        return reference
    finally:
        await conn.close()


async def run(stack: BenchStack, options: Options) -> SectionResult:
    concurrency, seconds = options.read_concurrency, options.read_seconds
    print(
        f"reads: {concurrency} clients, {seconds:g}s per route in {ROUNDS} interleaved turns",
        flush=True,
    )
    [reader] = await prepare_buyers(stack.settings, "Reader", 1)
    auth = {"Authorization": f"Bearer {reader.token}"}
    package = await create_package(stack.settings, "Reader Pack")
    reference = await one_purchase(stack.api_port, reader.organization_id, package, auth)
    cookie = {"Cookie": await console_cookie(stack.settings, reader.email)}
    routes = [
        (HEALTH, "/api/health", {}),
        (WALLET, f"/api/tokens/wallet/{reader.organization_id}", auth),
        ("GET purchase", f"/api/tokens/purchases/{reference}", auth),
        (CONSOLE, "/tokens", cookie),
    ]
    routes_measured = await interleaved(stack, routes, concurrency, seconds)
    measured: dict[str, tuple[float, Latencies]] = {}
    for name, route in routes_measured.items():
        measured[name] = (route.rate, route.tally)
        print(f"  {name:<20} {route.rate:>8.0f} req/s p99 {route.tally.ms(0.99):.1f} ms, "
              f"API CPU {route.api_cpu_ms:.2f} ms/request", flush=True)  # fmt: skip
    health_rate, health = measured.pop(HEALTH)
    console_rate, _ = measured.pop(CONSOLE)
    figures: list[Figure] = [
        Figure(SECTION, f"{CONSOLE} rate", console_rate, "req/s", f"{WALLET} rate",
               measured[WALLET][0], CONSOLE_GOAL),
    ]  # fmt: skip
    for name, (rate, tally) in measured.items():
        figures.append(
            Figure(SECTION, f"{name} rate", rate, "req/s", HEALTH, health_rate, READ_GOAL)
        )
        figures.append(
            Figure(SECTION, f"{name} p99", tally.ms(0.99), "ms", HEALTH, health.ms(0.99))
        )
    facts: dict[str, float] = {"read requests": sum(len(t.seconds) for _, t in measured.values())}
    for name, route in routes_measured.items():
        facts[f"API CPU ms per request: {name}"] = route.api_cpu_ms
    return SectionResult(figures, facts)


@dataclass
class Route:
    """One route's requests and time over the rounds, and the API's CPU time meanwhile."""

    tally: Latencies = field(default_factory=Latencies.empty)
    done: int = 0
    elapsed: float = 0.0
    api_cpu_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.done / self.elapsed

    @property
    def api_cpu_ms(self) -> float:
        return 1000 * self.api_cpu_seconds / max(self.done, 1)


async def interleaved(
    stack: BenchStack,
    routes: list[tuple[str, str, dict[str, str]]],
    concurrency: int,
    seconds: float,
) -> dict[str, Route]:
    """Each route for `seconds` in all, in ROUNDS turns taken in order (health, wallet, purchase,
    page, health, ...): on a machine whose load drifts, every route sees the same drift."""
    measured = {name: Route() for name, _, _ in routes}
    api = {"api": stack.pid("api")}
    for turn in range(ROUNDS):
        for name, path, headers in routes:
            route = measured[name]
            caller = getters(stack.api_port, path, headers, route.tally)
            before: dict[str, float] = {}
            first = turn == 0

            def measuring(
                route: Route = route, before: dict[str, float] = before, first: bool = first
            ) -> None:
                if first:  # drop what the warm-up recorded
                    route.tally.clear()
                before.update(cpu_seconds(api))

            done, elapsed = await closed_loop(
                concurrency, seconds / ROUNDS, caller, warm_up=1.0 if first else 0.0,
                measuring=measuring,
            )  # fmt: skip
            route.done += done
            route.elapsed += elapsed
            route.api_cpu_seconds += spent(before, cpu_seconds(api))["api"]
    return measured
