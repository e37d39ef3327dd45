"""Runs the chosen sections against one stack, in an order that lets later sections use earlier
figures (the subscription wave is set against the purchase rate), then the goals that set one
section's figure against another's (bench/goals.py)."""

import asyncio
import os
import signal
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from bench import consume, goals, holds, peers, purchases, reads, scaleout, subscriptions
from bench.figures import SectionResult
from bench.options import Options
from bench.report import table, write
from bench.stack import BenchStack, StackOptions


async def run_sections(stack: BenchStack, options: Options) -> dict[str, SectionResult]:
    results: dict[str, SectionResult] = {}
    if "peers" in options.only:  # first: later sections' goals are set against its rates
        results["peers"] = await peers.run(stack, options)
    if "spending" in options.only:
        results["spending"] = await consume.run(stack, options)
    if "holds" in options.only:
        results["holds"] = await holds.run(stack, options)
    if "purchases" in options.only or "subscriptions" in options.only:
        results["purchases"] = await purchases.run(stack, options)
    if "reads" in options.only:
        results["reads"] = await reads.run(stack, options)
    if "subscriptions" in options.only:
        facts = results["purchases"].facts
        results["subscriptions"] = await subscriptions.run(
            stack, options, float(facts["purchase rate"]), float(facts["baseline rate"])
        )
    if "scale-out" in options.only:  # last: the processes it adds stay until the end
        results["scale-out"] = await scaleout.run(stack, options)
    across, missing = goals.evaluate(results, goals.cross_goals(options))
    if across.figures:
        results[goals.SECTION] = across
    for name in missing:
        print(f"goal not measured in this run (its sections did not both run): {name}")
    return results


def stack_options(options: Options) -> StackOptions:
    return StackOptions(api_workers=options.api_workers, spend_pool_size=options.concurrency)


def _loads(load: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.2f}" for x in load)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(options: Options) -> int:
    """Start the stack, run, print the table, write the JSON; stop every process on any exit."""
    signal.signal(signal.SIGTERM, _interrupt)
    started = datetime.now(UTC)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="tokenbill-bench-") as folder:
        stack = BenchStack(Path(folder), stack_options(options))
        try:
            print("starting PostgreSQL, Temporal, the API and the workers", flush=True)
            stack.start()
            results = asyncio.run(run_sections(stack, options))
        finally:
            stack.stop()
    print()
    print(table(results))
    after = os.getloadavg()
    print(f"\nload average before the run: {_loads(load)}; after: {_loads(after)} "
          f"on {os.cpu_count()} CPUs")  # fmt: skip
    print(f"wrote {write(results, options, started)}")
    return 0
