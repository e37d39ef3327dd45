"""Scale-out: single spends over HTTP (across many wallets) and purchases end to end with one API
process and one tokenbill worker, then with two of each (and so on), the HTTP load spread over
the APIs round-robin; each figure against the one-process figure of the same run."""

import time

from bench.consume import http_single
from bench.figures import Figure, Latencies, SectionResult, closed_loop
from bench.fixtures import create_package, prepare_buyers, prepare_spending
from bench.options import Options
from bench.purchases import WARM_UP, http_buyers
from bench.stack import BenchStack

SECTION = "scale-out"


def processes(count: int) -> str:
    return f"{count} API{'s' if count > 1 else ''} + {count} worker{'s' if count > 1 else ''}"


async def run(stack: BenchStack, options: Options) -> SectionResult:
    print(f"scale-out: 1 to {options.processes} API processes and workers", flush=True)
    settings = stack.settings
    data = await prepare_spending(settings, options.wallets)
    buyers = await prepare_buyers(settings, "Scaler", options.purchase_concurrency)
    package = await create_package(settings, "Scale Pack")
    run_id = f"scale{time.time_ns()}"
    figures: list[Figure] = []
    facts: dict[str, float] = {}
    one_spends = one_purchases = 0.0
    for count in range(1, options.processes + 1):
        stack.scale_to(count)
        ports = stack.api_ports
        spender = http_single(ports, data.api_key, data.many, f"{run_id}-{count}")
        spends, elapsed = await closed_loop(
            options.concurrency, options.seconds, spender, warm_up=min(1.0, options.seconds)
        )
        spend_rate = spends / elapsed
        tally = Latencies.empty()
        buyer = http_buyers(ports, buyers, package, tally)
        bought, elapsed = await closed_loop(
            options.purchase_concurrency, options.purchase_seconds, buyer,
            min(WARM_UP, options.purchase_seconds), tally.clear,
        )  # fmt: skip
        purchase_rate = bought / elapsed
        one_spends, one_purchases = one_spends or spend_rate, one_purchases or purchase_rate
        name = processes(count)
        print(f"  {name:<20} {spend_rate:>8.0f} spends/s {purchase_rate:>6.1f} purchases/s",
              flush=True)  # fmt: skip
        figures += [
            Figure(SECTION, f"{name}: HTTP single spend", spend_rate, "spends/s", processes(1),
                   one_spends),
            Figure(SECTION, f"{name}: purchase over HTTP", purchase_rate, "purchases/s",
                   processes(1), one_purchases),
        ]  # fmt: skip
        facts[f"{name}: purchases not completed"] = sum(
            n for outcome, n in tally.outcomes.items() if outcome != "completed"
        )
    return SectionResult(figures, facts)
