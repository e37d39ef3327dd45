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
ROUNDS = 3


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
    """The two modes alternate in ROUNDS slices, so a machine whose load changes during the run
    (other work on it) weighs on both alike; each round takes them in the other order than the
    round before (single then pair, pair then single, ...), so a machine that drifts one way
    through the run does not always favour the mode that goes first."""
    data = await prepare_spending(stack.settings, 0)
    run_id, hot = f"{time.time_ns()}", data.hot[0]
    slice_seconds = options.seconds / ROUNDS
    warm_up = min(1.0, slice_seconds)
    totals = {SINGLE: [0, 0.0], HOLD_AND_CAPTURE: [0, 0.0]}
    for round_number in range(ROUNDS):
        callers = {
            SINGLE: http_single([stack.api_port], data.api_key, [hot], f"{run_id}-{round_number}"),
            HOLD_AND_CAPTURE: http_hold_and_capture(
                stack.api_port, data.api_key, hot, f"{run_id}-{round_number}"
            ),
        }
        order = list(callers.items()) if round_number % 2 == 0 else list(callers.items())[::-1]
        for mode, caller in order:
            done, elapsed = await closed_loop(
                options.concurrency, slice_seconds, caller, warm_up=warm_up
            )
            totals[mode][0] += done
            totals[mode][1] += elapsed
    single_rate = totals[SINGLE][0] / totals[SINGLE][1]
    pair_rate = totals[HOLD_AND_CAPTURE][0] / totals[HOLD_AND_CAPTURE][1]
    print(f"  hot wallet     {SINGLE:<30} {single_rate:>10.0f} spends/s", flush=True)
    print(f"  hot wallet     {HOLD_AND_CAPTURE:<30} {pair_rate:>10.0f} captures/s", flush=True)
    figure = Figure(
        SECTION, f"hot wallet: {HOLD_AND_CAPTURE}", pair_rate, "captures/s", SINGLE, single_rate,
        GOAL,
    )  # fmt: skip
    return SectionResult([figure], {})
