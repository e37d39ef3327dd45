"""Holds: a hold and its capture over HTTP on one hot wallet, against single spends over HTTP
on the same wallet at the same concurrency, measured in the same run (goal: at least 0.5x; a
hold and its capture are two requests and two row-locked transactions where a spend is one).

Beside the pair, the section measures each half alone on the same wallet (holds alone, then
captures alone of the holds just placed), as facts: a pair's rate is about
1 / (1/hold rate + 1/capture rate) (its groups mix the two), so these say which half holds the
pair back."""

import itertools
import json
import time
from collections.abc import Awaitable, Callable

from bench.consume import http_single
from bench.figures import Caller, Figure, Goal, SectionResult, closed_loop
from bench.fixtures import prepare_spending
from bench.http_client import KeepAliveConnection
from bench.options import Options
from bench.stack import BenchStack

SECTION = "holds"
SINGLE = "HTTP single spend"
HOLD_AND_CAPTURE = "HTTP hold + capture"
HOLD_ALONE = "HTTP hold alone"
CAPTURE_ALONE = "HTTP capture alone"
GOAL = Goal(0.5)
ROUNDS = 3


def hold_path(org: int) -> str:
    return f"/api/tokens/wallet/{org}/holds"


def capture_path(org: int, hold_id: int) -> str:
    return f"/api/tokens/wallet/{org}/holds/{hold_id}/capture"


async def place(conn: KeepAliveConnection, auth: dict[str, str], org: int, key: str) -> int:
    """Reserve 2 tokens; the hold's id."""
    status, body = await conn.post(
        hold_path(org), {"amount": "2", "reason": "bench"}, {**auth, "Idempotency-Key": key}
    )
    if status != 201:
        raise RuntimeError(f"hold answered {status}: {body[:200]!r}")
    return int(json.loads(body)["hold_id"])


async def capture_one(
    conn: KeepAliveConnection, auth: dict[str, str], org: int, hold_id: int
) -> None:
    """Capture 1 of the hold's 2 tokens (the other is released)."""
    status, body = await conn.post(capture_path(org, hold_id), {"amount": "1"}, auth)
    if status != 200:
        raise RuntimeError(f"capture answered {status}: {body[:200]!r}")


Step = Callable[[KeepAliveConnection, dict[str, str]], Awaitable[None]]


def repeating(
    port: int, api_key: str, step: Step, more: Callable[[], bool] = lambda: True
) -> Caller:
    """A caller that runs `step` on one keep-alive connection until the deadline (or until
    `more()` says there is nothing left); its count of steps done."""

    async def work(number: int, deadline: float) -> int:
        done = 0
        conn = await KeepAliveConnection.open("127.0.0.1", port)
        auth = {"Authorization": f"Bearer {api_key}"}
        try:
            while time.monotonic() < deadline and more():
                await step(conn, auth)
                done += 1
        finally:
            await conn.close()
        return done

    return work


def http_hold_and_capture(port: int, api_key: str, org: int, run: str) -> Caller:
    """Each round: reserve 2 tokens, then capture 1 of them (the other is released)."""
    serial = itertools.count()

    async def pair(conn: KeepAliveConnection, auth: dict[str, str]) -> None:
        await capture_one(
            conn, auth, org, await place(conn, auth, org, f"{run}-hold{next(serial)}")
        )

    return repeating(port, api_key, pair)


def http_holds_alone(port: int, api_key: str, org: int, run: str, placed: list[int]) -> Caller:
    """Reserve 2 tokens at a time, never settled here: the ids go to `placed`."""
    serial = itertools.count()

    async def hold(conn: KeepAliveConnection, auth: dict[str, str]) -> None:
        placed.append(await place(conn, auth, org, f"{run}-alone{next(serial)}"))

    return repeating(port, api_key, hold)


def http_captures_alone(port: int, api_key: str, org: int, placed: list[int]) -> Caller:
    """Capture 1 token of each hold in `placed` (taken from it) until the deadline or the last."""

    async def capture(conn: KeepAliveConnection, auth: dict[str, str]) -> None:
        await capture_one(conn, auth, org, placed.pop())

    return repeating(port, api_key, capture, more=lambda: bool(placed))


async def run(stack: BenchStack, options: Options) -> SectionResult:
    """The modes alternate in ROUNDS slices, so a machine whose load changes during the run
    (other work on it) weighs on all alike; each round takes them in the other order than the
    round before (single, pair, holds alone then captures alone; then the reverse, the captures
    still after the holds they capture), so a machine that drifts one way through the run does
    not always favour the mode that goes first."""
    data = await prepare_spending(stack.settings, 0)
    run_id, hot, port = f"{time.time_ns()}", data.hot[0], stack.api_port
    slice_seconds = options.seconds / ROUNDS
    warm_up = min(1.0, slice_seconds)
    modes = (SINGLE, HOLD_AND_CAPTURE, HOLD_ALONE, CAPTURE_ALONE)
    totals = {mode: [0, 0.0] for mode in modes}
    for round_number in range(ROUNDS):
        tag, placed = f"{run_id}-{round_number}", list[int]()
        callers = {
            SINGLE: http_single([port], data.api_key, [hot], tag),
            HOLD_AND_CAPTURE: http_hold_and_capture(port, data.api_key, hot, tag),
            HOLD_ALONE: http_holds_alone(port, data.api_key, hot, tag, placed),
            CAPTURE_ALONE: http_captures_alone(port, data.api_key, hot, placed),
        }
        steps = [[SINGLE], [HOLD_AND_CAPTURE], [HOLD_ALONE, CAPTURE_ALONE]]
        for step in steps if round_number % 2 == 0 else steps[::-1]:
            for mode in step:
                done, elapsed = await closed_loop(
                    options.concurrency, slice_seconds, callers[mode], warm_up=warm_up
                )
                totals[mode][0] += done
                totals[mode][1] += elapsed
    rates = {mode: totals[mode][0] / totals[mode][1] for mode in modes}
    units = {SINGLE: "spends/s", HOLD_ALONE: "holds/s", CAPTURE_ALONE: "captures/s"}
    for mode in modes:
        unit = units.get(mode, "captures/s")
        print(f"  hot wallet     {mode:<30} {rates[mode]:>10.0f} {unit}", flush=True)
    halves = 1 / (1 / rates[HOLD_ALONE] + 1 / rates[CAPTURE_ALONE])
    print(f"  a pair, from its halves, 1/(1/holds + 1/captures): {halves / rates[SINGLE]:.2f}x")
    figure = Figure(
        SECTION, f"hot wallet: {HOLD_AND_CAPTURE}", rates[HOLD_AND_CAPTURE], "captures/s", SINGLE,
        rates[SINGLE], GOAL,
    )  # fmt: skip
    facts = {
        f"{HOLD_ALONE} against {SINGLE}": rates[HOLD_ALONE] / rates[SINGLE],
        f"{CAPTURE_ALONE} against {SINGLE}": rates[CAPTURE_ALONE] / rates[SINGLE],
        f"pair from its halves, 1/(1/hold + 1/capture), against {SINGLE}": halves / rates[SINGLE],
    }
    return SectionResult([figure], facts)
