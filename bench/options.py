"""`make bench` options: which sections run, for how long, at what concurrency."""

import argparse
from dataclasses import dataclass

SECTIONS = ("peers", "spending", "holds", "purchases", "reads", "subscriptions", "scale-out")


@dataclass(frozen=True)
class Options:
    only: tuple[str, ...]
    seconds: float
    concurrency: int
    batch_size: int
    api_workers: int
    wallets: int
    purchase_seconds: float
    purchase_concurrency: int
    read_seconds: float
    read_concurrency: int
    subscriptions: int
    subscription_concurrency: int
    wave_timeout: float
    processes: int


def parse_options(argv: list[str] | None, description: str | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="make bench BENCH_ARGS=…", description=description)
    add = parser.add_argument
    add("--only", action="append", choices=SECTIONS,
        help="run this section (repeatable); all sections by default")  # fmt: skip
    add("--seconds", type=float, default=5.0, help="peers, spending: measured time per mode")
    add("--concurrency", type=int, default=32, help="peers, spending: concurrent callers")
    add("--batch-size", type=int, default=100, help="spending: spends per batch")
    add("--api-workers", type=int, default=1,
        help="uvicorn worker processes of the API. Production runs one per core; the bench "
        "keeps one because its machine also runs PostgreSQL and the load generator on those "
        "cores, and each process coalesces only its own spends: on 2 CPUs, 2 workers gave "
        "0.77x the single spends over 1,000 wallets of 1 worker (fewer spends per commit)",
    )  # fmt: skip
    add("--wallets", type=int, default=1000, help="peers, spending: wallets of the spread case")
    add("--purchase-seconds", type=float, default=20.0, help="purchases: measured time per mode")
    add("--purchase-concurrency", type=int, default=32, help="purchases: concurrent buyers")
    add("--read-seconds", type=float, default=5.0, help="reads: measured time per route")
    add("--read-concurrency", type=int, default=32, help="reads: concurrent clients")
    add("--subscriptions", type=int, default=2000, help="subscriptions: size of the wave")
    add("--subscription-concurrency", type=int, default=32,
        help="subscriptions: concurrent creators before the wave")  # fmt: skip
    add("--wave-timeout", type=float, default=1800.0,
        help="subscriptions: seconds the wave may take after its due time")  # fmt: skip
    add("--processes", type=int, default=2,
        help="scale-out: 1, 2, ... up to this many API processes and workers")  # fmt: skip
    args = parser.parse_args(argv)
    return Options(
        only=tuple(args.only or SECTIONS), seconds=args.seconds, concurrency=args.concurrency,
        batch_size=args.batch_size, api_workers=args.api_workers, wallets=args.wallets,
        purchase_seconds=args.purchase_seconds, purchase_concurrency=args.purchase_concurrency,
        read_seconds=args.read_seconds, read_concurrency=args.read_concurrency,
        subscriptions=args.subscriptions, subscription_concurrency=args.subscription_concurrency,
        wave_timeout=args.wave_timeout, processes=args.processes,
    )  # fmt: skip
