"""Spending: single spends over HTTP and batches, against the same ledger transaction issued
directly by psycopg at the same concurrency, on one hot wallet and across many wallets."""

import itertools
import json
import random
import time
from decimal import Decimal

from psycopg import AsyncConnection

from bench.figures import Caller, Figure, Goal, SectionResult, closed_loop
from bench.fixtures import SpendingData, prepare_spending
from bench.http_client import KeepAliveConnection
from bench.options import Options
from bench.stack import BenchStack
from db.spending import AlertDefaults, SpendContext, SpendRequest, spend, spend_batch

SECTION = "spending"
ONE = Decimal(1)
DEFAULTS = AlertDefaults(low=Decimal(100), critical=Decimal(50), auto_topup=True)
CONTEXT = SpendContext("service", "bench")
DIRECT = "direct psycopg, 1 spend/tx"
Mode = tuple[str, Caller]


def direct_single(url: str, orgs: list[int], run: str) -> Caller:
    serial = itertools.count()

    async def work(number: int, deadline: float) -> int:
        done = 0
        async with await AsyncConnection.connect(url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                request = SpendRequest(random.choice(orgs), ONE, f"{run}-d{next(serial)}", "bench")
                outcome = await spend(conn, request, DEFAULTS, CONTEXT)
                done += outcome.status == "applied"
        return done

    return work


def direct_batch(url: str, orgs: list[int], run: str, size: int) -> Caller:
    serial = itertools.count()

    async def work(number: int, deadline: float) -> int:
        done = 0
        async with await AsyncConnection.connect(url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                requests = [
                    SpendRequest(random.choice(orgs), ONE, f"{run}-db{next(serial)}", "bench")
                    for i in range(size)
                ]
                outcomes = await spend_batch(conn, requests, DEFAULTS, CONTEXT)
                done += sum(o.status == "applied" for o in outcomes)
        return done

    return work


def http_single(ports: list[int], api_key: str, orgs: list[int], run: str) -> Caller:
    """Single spends over HTTP, caller n talking to the API on ports[n % len(ports)]."""
    serial = itertools.count()

    async def work(number: int, deadline: float) -> int:
        done = 0
        conn = await KeepAliveConnection.open("127.0.0.1", ports[number % len(ports)])
        auth = f"Bearer {api_key}"
        try:
            while time.monotonic() < deadline:
                org = random.choice(orgs)
                status, _ = await conn.post(
                    f"/api/tokens/wallet/{org}/consume", {"amount": "1", "reason": "bench"},
                    {"Authorization": auth, "Idempotency-Key": f"{run}-h{next(serial)}"},
                )  # fmt: skip
                if status != 201:
                    raise RuntimeError(f"consume answered {status}")
                done += 1
        finally:
            await conn.close()
        return done

    return work


def http_batch(port: int, api_key: str, orgs: list[int], run: str, size: int) -> Caller:
    serial = itertools.count()

    async def work(number: int, deadline: float) -> int:
        done = 0
        conn = await KeepAliveConnection.open("127.0.0.1", port)
        auth = f"Bearer {api_key}"
        try:
            while time.monotonic() < deadline:
                items = [
                    {"organization_id": random.choice(orgs), "amount": "1", "reason": "bench",
                     "idempotency_key": f"{run}-hb{next(serial)}"}
                    for i in range(size)
                ]  # fmt: skip
                status, body = await conn.post(
                    "/api/tokens/consumptions", {"items": items}, {"Authorization": auth}
                )
                if status != 200:
                    raise RuntimeError(f"consumptions answered {status}: {body[:200]!r}")
                done += int(json.loads(body)["applied"])
        finally:
            await conn.close()
        return done

    return work


def modes(stack: BenchStack, data: SpendingData, orgs: list[int], size: int) -> list[Mode]:
    run = f"{time.time_ns()}"
    url, port, key = stack.database_url, stack.api_port, data.api_key
    return [
        (DIRECT, direct_single(url, orgs, run)),
        ("HTTP single spend", http_single([port], key, orgs, run)),
        (f"HTTP batch of {size}", http_batch(port, key, orgs, run, size)),
        (f"direct psycopg, batch of {size}", direct_batch(url, orgs, run, size)),
    ]


GOALS = {"HTTP single spend": Goal(0.5), "HTTP batch": Goal(1.0)}


async def run(stack: BenchStack, options: Options) -> SectionResult:
    print(f"spending: preparing {options.wallets + 1} funded wallets", flush=True)
    data = await prepare_spending(stack.settings, options.wallets)
    figures: list[Figure] = []
    for scenario, orgs in (("hot wallet", data.hot), (f"{len(data.many)} wallets", data.many)):
        direct_rate = 0.0
        for mode, caller in modes(stack, data, orgs, options.batch_size):
            spends, elapsed = await closed_loop(
                options.concurrency, options.seconds, caller, warm_up=min(1.0, options.seconds)
            )
            rate = spends / elapsed
            direct_rate = direct_rate or rate
            goal = GOALS.get(mode.split(" of ")[0]) if scenario == "hot wallet" else None
            figures.append(
                Figure(SECTION, f"{scenario}: {mode}", rate, "spends/s", DIRECT, direct_rate, goal)
            )
            print(f"  {scenario:<14} {mode:<30} {rate:>10.0f} spends/s", flush=True)
    return SectionResult(figures, {})
