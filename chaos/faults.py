"""The faults a run injects into processes, and the log of every fault with its moment."""

import asyncio
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from activities.payments.sandbox_faults import LOST_RESPONSE, PROCESSING_ERROR
from chaos.stack import ChaosStack

WORKER_KILL = "worker_sigkill"
POSTGRES_RESTART = "postgres_restart"
API_KILL = "api_sigkill"
EVERY_KIND = (WORKER_KILL, POSTGRES_RESTART, API_KILL, PROCESSING_ERROR, LOST_RESPONSE)


@dataclass(frozen=True)
class Fault:
    kind: str
    at: datetime
    detail: str


@dataclass
class FaultLog:
    faults: list[Fault] = field(default_factory=list)

    def record(self, kind: str, detail: str = "") -> None:
        self.faults.append(Fault(kind, datetime.now(UTC), detail))

    def counts(self) -> Counter[str]:
        return Counter(f.kind for f in self.faults)

    def kills(self) -> list[datetime]:
        """The moments a worker was killed."""
        return [f.at for f in self.faults if f.kind == WORKER_KILL]

    def gateway_faults(self) -> list[tuple[datetime, str]]:
        """The gateway's faults (the sandbox's or the Stripe stand-in's): when, and the
        operation and key each hit."""
        processes = (WORKER_KILL, POSTGRES_RESTART, API_KILL)
        return [(f.at, f.detail) for f in self.faults if f.kind not in processes]

    def add_gateway_faults(self, worker_logs: list[Path]) -> None:
        """The gateway's own log lines of the faults it injected: the sandbox's in every worker
        incarnation, or the Stripe stand-in's."""
        for path in worker_logs:
            for line in path.read_text(errors="replace").splitlines():
                if '"sandbox_fault"' not in line and '"standin_fault"' not in line:
                    continue
                entry = json.loads(line)
                self.faults.append(
                    Fault(
                        entry.get("sandbox_fault") or entry["standin_fault"],
                        datetime.fromisoformat(entry["time"]),
                        f"{entry['operation']} {entry['idempotency_key']}",
                    )
                )
        self.faults.sort(key=lambda f: f.at)


@dataclass(frozen=True)
class FaultPlan:
    """When the one-off faults happen (fractions of the run) and how often the worker dies."""

    duration: float
    worker_kill_every: tuple[float, float]
    postgres_at: float = 0.35
    api_at: float = 0.6


async def inject_faults(
    stack: ChaosStack, plan: FaultPlan, log: FaultLog, rng: random.Random, stop: asyncio.Event
) -> None:
    """Kill the worker at random moments, restart PostgreSQL once and kill the API once."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    one_offs = sorted(
        [
            (plan.postgres_at * plan.duration, POSTGRES_RESTART),
            (plan.api_at * plan.duration, API_KILL),
        ]
    )
    next_kill = start + rng.uniform(*plan.worker_kill_every)
    while not stop.is_set():
        now = loop.time()
        if one_offs and now - start >= one_offs[0][0]:
            _, kind = one_offs.pop(0)
            await _one_off(stack, kind, log, rng)
        elif now >= next_kill:
            await _kill_worker(stack, log, rng)
            next_kill = loop.time() + rng.uniform(*plan.worker_kill_every)
        try:
            await asyncio.wait_for(stop.wait(), timeout=0.2)
        except TimeoutError:
            continue
    for _, kind in one_offs:  # a run stopped early still injects every kind once
        await _one_off(stack, kind, log, rng)


async def _kill_worker(stack: ChaosStack, log: FaultLog, rng: random.Random) -> None:
    index = rng.randrange(len(stack.workers))
    worker = stack.workers[index]
    worker.kill()
    log.record(WORKER_KILL, f"{worker.name}, incarnation {worker.starts}")
    await asyncio.sleep(rng.uniform(0.5, 3.0))
    await asyncio.to_thread(stack.start_worker, index)


async def _one_off(stack: ChaosStack, kind: str, log: FaultLog, rng: random.Random) -> None:
    if kind == POSTGRES_RESTART:
        log.record(POSTGRES_RESTART, stack.database.outage_description)
        await asyncio.to_thread(stack.restart_postgres, rng.uniform(1.0, 3.0))
    else:
        index = rng.randrange(len(stack.apis))
        stack.apis[index].kill()
        log.record(API_KILL, f"{stack.apis[index].name}: SIGKILL, then start")
        await asyncio.sleep(rng.uniform(0.5, 2.0))
        await asyncio.to_thread(stack.restart_api, index)
