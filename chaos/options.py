"""The chaos run's command line."""

import argparse
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Options:
    duration: float
    settle_timeout: float
    seed: int
    organizations: int
    fault_rate: float
    lost_response_rate: float
    worker_kill_every: tuple[float, float]
    work_dir: Path | None
    database_url: str | None
    apis: int
    workers: int
    summary: Path | None
    keep: bool
    gateway: str = "sandbox"


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m chaos",
        description="Drive purchases, subscriptions, spends and top-ups while killing the worker, "
        "restarting PostgreSQL, killing the API and failing the gateway; then prove the books.",
    )
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of traffic")
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=120.0,
        help="seconds to wait for workflows and notifications to finish",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of every random choice")
    parser.add_argument("--organizations", type=int, default=6)
    parser.add_argument(
        "--fault-rate", type=float, default=0.15, help="SANDBOX_GATEWAY_FAULT_RATE of the run"
    )
    parser.add_argument(
        "--lost-response-rate",
        type=float,
        default=0.15,
        help="SANDBOX_GATEWAY_LOST_RESPONSE_RATE of the run",
    )
    parser.add_argument(
        "--worker-kill-every",
        type=float,
        nargs=2,
        default=(8.0, 20.0),
        metavar=("MIN", "MAX"),
        help="seconds between worker kills",
    )
    parser.add_argument(
        "--database-url",
        help="an external PostgreSQL server (a superuser's URL): the run makes a database of its "
        "own there and drops it after; default, a PostgreSQL server of the run's own",
    )
    parser.add_argument("--apis", type=int, default=1, help="API processes (each killed alike)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--work-dir", type=Path, help="servers' data and logs (default: temp)")
    parser.add_argument("--summary", type=Path, help="also write the outcome here as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the work dir after a pass")
    parser.add_argument(
        "--gateway",
        choices=("sandbox", "stripe"),
        default="sandbox",
        help="the payment gateway: the sandbox, or Stripe's SDK against the local stand-in "
        "(whose 5xx and lost answers are the gateway faults)",
    )
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.organizations < 3:
        parser.error("the run needs a positive duration and at least 3 organizations")
    if args.apis < 1 or args.workers < 1:
        parser.error("the run needs at least one API and one worker process")
    low, high = args.worker_kill_every
    if not 0 < low <= high:
        parser.error("--worker-kill-every needs 0 < MIN <= MAX")
    return Options(
        duration=args.duration,
        settle_timeout=args.settle_timeout,
        seed=args.seed,
        organizations=args.organizations,
        fault_rate=args.fault_rate,
        lost_response_rate=args.lost_response_rate,
        worker_kill_every=(low, high),
        work_dir=args.work_dir,
        database_url=args.database_url,
        apis=args.apis,
        workers=args.workers,
        summary=args.summary,
        keep=args.keep,
        gateway=args.gateway,
    )
