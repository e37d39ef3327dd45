"""`python -m capacity.measure`: the billable Temporal actions of a purchase, a renewal (one
billing cycle with its continue-as-new), a dunning retry and an automatic top-up, measured on a
real Temporal dev server with the tokenbill worker and API (the bench's stack: own PostgreSQL,
dev server, API and worker on free ports, all stopped on exit).

Each flow runs alone, in a window of time; the figure is every billable action written in that
window by every workflow of the namespace (capacity/actions.py), so the outbox relay's share (the
notifications a purchase or a declined charge sets off) is in it. Subscriptions bill every 20 s
with a reminder 5 s before (a month and 3 days in production: the same workflow steps), and retry
a declined charge 4, 8 and 12 s after it inside a 14 s grace period. Last, a window with no flow
measures what the idle namespace spends (the outbox relay's polling). Prints a table and writes
JSON under bench/results/ (actions-<time>.json).
"""

import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Select, func, select
from temporalio.client import Client

from api.auth.jwt_tokens import issue_token
from bench.fixtures import BENCH, create_package, prepare_organizations, transaction
from bench.stack import REPOSITORY, BenchStack
from capacity.actions import RunActions, activity_scheduled_ids, count_actions
from capacity.measurements import DUNNING_RETRY, IDLE, RENEWAL, TOPUP
from capacity.measurements import PURCHASE as PURCHASE_FLOW
from capacity.stack import start_stack
from db import ledger
from db.directory import CONFIGURE, CONSUME, PURCHASE, VIEW, create_user
from db.models.purchases import TokenPurchase
from db.models.subscriptions import TokenSubscription
from workflows.converter import DATA_CONVERTER

ENVIRONMENT = {
    "TOKEN_SUBSCRIPTION_MINIMUM_INTERVAL": "PT10S",
    "TOKEN_SUBSCRIPTION_REMINDER_LEAD": "PT5S",
    "TOKEN_SUBSCRIPTION_DUNNING_SCHEDULE": "PT4S,PT8S,PT12S",
}
INTERVAL = "PT20S"
GRACE = "PT14S"
SETTLE = 4.0  # seconds after a flow's end for the notifications it set off
IDLE_SECONDS = 120.0  # a window with no flow: the outbox relay's polling alone
PATIENCE = 180.0
RESULTS = REPOSITORY / "bench" / "results"


@dataclass
class Flow:
    name: str
    windows: list[tuple[datetime, datetime]] = field(default_factory=list)
    totals: list[int] = field(default_factory=list)
    by_type: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)  # "<workflow type>: <kind>"

    @property
    def per_flow(self) -> float:
        return sum(self.totals) / len(self.totals)


async def all_runs(client: Client) -> list[tuple[str, str, dict[str, Any], RunActions]]:
    """Every run of the namespace: id, run id, history (JSON) and its billable actions."""
    runs = []
    async for execution in client.list_workflows():
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        history = json.loads((await handle.fetch_history()).to_json())
        runs.append((execution.id, execution.run_id, history, count_actions(history)))
    return runs


async def count_window(client: Client, flow: Flow, start: datetime, end: datetime) -> None:
    total = 0
    for _, _, _, run in await all_runs(client):
        within = run.within(start, end)
        total += within
        flow.by_type[run.workflow_type] += within
        for event in run.events:
            if start <= event.time < end:
                flow.by_kind[f"{run.workflow_type}: {event.kind}"] += event.actions
    flow.windows.append((start, end))
    flow.totals.append(total)


async def wait_for(probe: Any, what: str) -> Any:
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.5)
    raise RuntimeError(f"gave up waiting for {what}")


async def scalar(stack: BenchStack, statement: Select[Any]) -> Any:
    async with transaction(stack.settings) as session:
        return await session.scalar(statement)


async def measure_purchases(stack: BenchStack, client: Client, http: httpx.AsyncClient,
                            org: int, package: int, count: int) -> Flow:  # fmt: skip
    flow = Flow(PURCHASE_FLOW)
    for n in range(count):
        start = datetime.now(UTC)
        answer = await http.post(
            "/api/tokens/purchases",
            json={"organization_id": org, "package_id": package, "payment_method": "pm_card_ok"},
            headers={"Idempotency-Key": f"measure-purchase-{n}"},
        )
        answer.raise_for_status()
        reference = answer.json()["purchase_reference_id"]

        async def completed(reference: str = reference) -> bool:
            status = await scalar(stack, select(TokenPurchase.status).where(
                TokenPurchase.purchase_reference_id == reference))  # fmt: skip
            return bool(status == "completed")

        await wait_for(completed, f"purchase {reference}")
        await asyncio.sleep(SETTLE)
        await count_window(client, flow, start, datetime.now(UTC))
    return flow


async def create_subscription(http: httpx.AsyncClient, org: int, package: int, card: str) -> int:
    start_at = datetime.now(UTC) + timedelta(seconds=3)
    answer = await http.post(
        "/api/tokens/subscriptions",
        json={"organization_id": org, "package_id": package, "payment_method": card,
              "billing_interval": INTERVAL, "grace_period": GRACE,
              "start_at": start_at.isoformat()},
        headers={"Idempotency-Key": f"measure-subscription-{org}"},
    )  # fmt: skip
    answer.raise_for_status()
    return int(answer.json()["subscription_id"])


async def chain(client: Client, workflow_id: str) -> list[tuple[datetime, str]]:
    """The runs of a workflow id: (start time, status name), oldest first."""
    runs = []
    async for execution in client.list_workflows(f'WorkflowId = "{workflow_id}"'):
        status = execution.status.name if execution.status else "UNKNOWN"
        runs.append((execution.start_time, status))
    return sorted(runs)


async def measure_renewal(client: Client, http: httpx.AsyncClient, org: int, package: int) -> Flow:
    """One whole cycle: the second run, from its continue-as-new start to the next one's."""
    flow = Flow(RENEWAL)
    subscription = await create_subscription(http, org, package, "pm_card_ok")
    workflow_id = f"subscription-{subscription}"

    async def three_runs() -> list[tuple[datetime, str]] | None:
        runs = await chain(client, workflow_id)
        return runs if len(runs) >= 3 else None

    runs = await wait_for(three_runs, f"three runs of {workflow_id}")
    # Cancelled before counting, so that its next cycles stay out of the later flows' windows.
    cancelled = await http.post(
        f"/api/tokens/subscriptions/{subscription}/cancel", json={"when": "immediately"},
        headers={"Idempotency-Key": f"measure-cancel-{subscription}"},
    )  # fmt: skip
    cancelled.raise_for_status()
    await count_window(client, flow, runs[1][0], runs[2][0])
    return flow


async def measure_dunning(stack: BenchStack, client: Client, http: httpx.AsyncClient,
                          org: int, package: int) -> Flow:  # fmt: skip
    """Each retry: from a declined charge's scheduling to the next one's."""
    flow = Flow(DUNNING_RETRY)
    subscription = await create_subscription(http, org, package, "pm_card_declined")

    async def suspended() -> bool:
        status = await scalar(
            stack, select(TokenSubscription.status).where(TokenSubscription.id == subscription)
        )
        return bool(status == "suspended")

    await wait_for(suspended, f"subscription {subscription} suspended")
    await asyncio.sleep(SETTLE)
    handle = client.get_workflow_handle(f"subscription-{subscription}")
    history = json.loads((await handle.fetch_history()).to_json())
    times = {int(e["eventId"]): e["eventTime"] for e in history["events"]}
    charges = [
        datetime.fromisoformat(times[i].replace("Z", "+00:00"))
        for i in activity_scheduled_ids(history, "subscription.charge")
    ]
    if len(charges) < 2:
        raise RuntimeError(f"subscription {subscription}: {len(charges)} charges, no retry")
    for start, end in pairwise(charges):
        await count_window(client, flow, start, end)
    return flow


async def measure_topup(stack: BenchStack, client: Client, http: httpx.AsyncClient,
                        org: int, package: int) -> Flow:  # fmt: skip
    """A spend takes the balance below the threshold; the top-up purchase completes."""
    flow = Flow(TOPUP)
    async with transaction(stack.settings) as session:
        wallet = await ledger.ensure_wallet(session, org)
        await ledger.credit(
            session, wallet_id=wallet, amount=Decimal(1000), idempotency_key=f"measure:{org}:fund"
        )
    policy = {"threshold": "200", "package_id": package, "payment_method": "pm_card_ok",
              "cooldown": "PT0S"}  # fmt: skip
    (await http.put(f"/api/tokens/wallet/{org}/auto-topup", json=policy)).raise_for_status()
    await asyncio.sleep(SETTLE)  # the policy change's own signal stays out of the window
    start = datetime.now(UTC)
    spend = await http.post(
        f"/api/tokens/wallet/{org}/consume", json={"amount": "900", "reason": "measure"},
        headers={"Idempotency-Key": "measure-spend"},
    )  # fmt: skip
    spend.raise_for_status()

    async def topped_up() -> bool:
        done = await scalar(stack, select(func.count()).where(
            TokenPurchase.organization_id == org, TokenPurchase.purchase_type == "auto_topup",
            TokenPurchase.status == "completed"))  # fmt: skip
        return bool(done)

    await wait_for(topped_up, f"the automatic top-up of organization {org}")
    await asyncio.sleep(SETTLE)
    await count_window(client, flow, start, datetime.now(UTC))
    return flow


async def measure_idle(client: Client) -> Flow:
    """What the namespace spends with nothing to do, in IDLE_SECONDS (the job Schedules are
    off here: capacity/jobs.py counts them)."""
    flow = Flow(IDLE)
    await asyncio.sleep(2 * SETTLE)
    start = datetime.now(UTC)
    await asyncio.sleep(IDLE_SECONDS)
    await count_window(client, flow, start, datetime.now(UTC))
    return flow


async def measure(folder: Path, purchases: int) -> list[Flow]:
    stack = start_stack(folder, ENVIRONMENT, spend_pool_size=4)
    try:
        settings = stack.settings
        client = await Client.connect(str(settings.temporal_address), data_converter=DATA_CONVERTER)
        package = await create_package(settings, "Measure Pack")
        orgs = await prepare_organizations(settings, "Measured", 4)
        async with transaction(settings) as session:
            user = await create_user(
                session, email="measure@bench.test", role="admin",
                permissions=[VIEW, PURCHASE, CONFIGURE, CONSUME], actor=BENCH,
            )  # fmt: skip
        headers = {"Authorization": f"Bearer {issue_token(settings, user.id)}"}
        base = f"http://127.0.0.1:{stack.api_port}"
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
            await asyncio.sleep(SETTLE)  # the relay's start at the worker's start
            flows = [await measure_purchases(stack, client, http, orgs[0], package, purchases)]
            flows.append(await measure_renewal(client, http, orgs[1], package))
            flows.append(await measure_dunning(stack, client, http, orgs[2], package))
            flows.append(await measure_topup(stack, client, http, orgs[3], package))
            flows.append(await measure_idle(client))
        return flows
    finally:
        stack.stop()


def report(flows: list[Flow]) -> dict[str, Any]:
    print(f"{'flow':<62} {'actions':>8}  samples  by workflow type (all samples)")
    for flow in flows:
        types = ", ".join(f"{name} {count}" for name, count in flow.by_type.items() if count)
        print(f"{flow.name:<62} {flow.per_flow:>8.1f}  {flow.totals}  {types}")
    return {
        "measured": datetime.now(UTC).isoformat(),
        "environment": ENVIRONMENT,
        "idle_seconds": IDLE_SECONDS,
        "flows": {
            flow.name: {"actions": flow.per_flow, "samples": flow.totals,
                        "by_workflow_type": {k: v for k, v in flow.by_type.items() if v},
                        "by_kind": dict(sorted(flow.by_kind.items()))}
            for flow in flows
        },
    }  # fmt: skip


def main(argv: list[str]) -> int:
    purchases = int(argv[0]) if argv else 3
    with tempfile.TemporaryDirectory(prefix="tokenbill-actions-") as folder:
        flows = asyncio.run(measure(Path(folder), purchases))
    result = report(flows)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"actions-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {path.relative_to(REPOSITORY)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
