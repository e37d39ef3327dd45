"""Holds: a hold and its capture over HTTP on one hot wallet, against single spends over HTTP
on the same wallet at the same concurrency, measured in the same run (goal: at least 0.5x; a
hold and its capture are two requests and two row-locked transactions where a spend is one)."""

import itertools
import json
import time

from bench.consume import http_single
from bench.figures import Caller, Figure, Goal, SectionResult, closed_loop
from bench.fixtures import prepare_spending
from bench.http_client import KeepAliveConnection
from bench.options import Options
from bench.stack import BenchStack

SECTION = "holds"
SINGLE = "HTTP single spend"
HOLD_AND_CAPTURE = "HTTP hold + capture"
GOAL = Goal(0.5)


def http_hold_and_capture(port: int, api_key: str, org: int, run: str) -> Caller:
    """Each round: reserve 2 tokens, then capture 1 of them (the other is released)."""
    serial = itertools.count()

    async def work(number: int, deadline: float) -> int:
        done = 0
        conn = await KeepAliveConnection.open("127.0.0.1", port)
        auth = {"Authorization": f"Bearer {api_key}"}
        try:
            while time.monotonic() < deadline:
                status, body = await conn.post(
                    f"/api/tokens/wallet/{org}/holds", {"amount": "2", "reason": "bench"},
                    {**auth, "Idempotency-Key": f"{run}-hold{next(serial)}"},
                )  # fmt: skip
                if status != 201:
                    raise RuntimeError(f"hold answered {status}: {body[:200]!r}")
                hold_id = json.loads(body)["hold_id"]
                status, body = await conn.post(
                    f"/api/tokens/wallet/{org}/holds/{hold_id}/capture", {"amount": "1"}, auth
                )
                if status != 200:
                    raise RuntimeError(f"capture answered {status}: {body[:200]!r}")
                done += 1
        finally:
            await conn.close()
        return done

    return work


async def run(stack: BenchStack, options: Options) -> SectionResult:
    data = await prepare_spending(stack.settings, 0)
    run_id, hot = f"{time.time_ns()}", data.hot[0]
    warm_up = min(1.0, options.seconds)
    single, elapsed = await closed_loop(
        options.concurrency, options.seconds,
        http_single([stack.api_port], data.api_key, [hot], f"{run_id}-s"), warm_up=warm_up,
    )  # fmt: skip
    single_rate = single / elapsed
    print(f"  hot wallet     {SINGLE:<30} {single_rate:>10.0f} spends/s", flush=True)
    pairs, elapsed = await closed_loop(
        options.concurrency, options.seconds,
        http_hold_and_capture(stack.api_port, data.api_key, hot, run_id), warm_up=warm_up,
    )  # fmt: skip
    pair_rate = pairs / elapsed
    print(f"  hot wallet     {HOLD_AND_CAPTURE:<30} {pair_rate:>10.0f} captures/s", flush=True)
    figure = Figure(
        SECTION, f"hot wallet: {HOLD_AND_CAPTURE}", pair_rate, "captures/s", SINGLE, single_rate,
        GOAL,
    )  # fmt: skip
    return SectionResult([figure], {})
