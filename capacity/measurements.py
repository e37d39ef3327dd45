"""The unit costs the capacity model runs on, read from the latest measurements under
bench/results/: `make bench` (bench-*.json: the hot wallet's batched rate, the purchase rate and
the subscription wave's), `python -m capacity.unit_costs` (unit-costs-*.json: CPU ms per
operation by server) and `python -m capacity.measure` (actions-*.json: billable actions per flow).

What is not measured directly is derived, and says so in `UnitCosts.sources`: a renewal costs
the worker and PostgreSQL what a purchase does times the purchase rate over the wave's paid rate
(both from one bench run on one stack); a dunning retry and a top-up scale the renewal's and the
purchase's cost by their action counts (each action is a task the worker handles). The actions
spent whatever the population are the job Schedules' (capacity/jobs.py) and the idle outbox
relay's polling (measured in a window with no flow).
"""

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from capacity.jobs import Job, job_costs
from capacity.model import SECONDS_PER_MONTH, ComponentCosts, UnitCosts
from worker.registry import JOB_SCHEDULES

RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results"
# pgbench on one wallet row, 2 CPUs (issue 17): the ceiling of single spends on one wallet.
HOT_WALLET_SINGLE_SPENDS = 1_400.0

PURCHASE = "purchase"
RENEWAL = "renewal (one billing cycle, continue-as-new included)"
DUNNING_RETRY = "dunning retry"
TOPUP = "automatic top-up (spend below threshold to tokens credited)"
IDLE = "idle namespace (outbox relay polling)"


# The bench sections the capacity figures come from: a run of fewer sections (`--only`) is
# passed over in favour of the newest whole run.
BENCH_SECTIONS_USED = ("purchases", "subscriptions")


def latest(pattern: str, folder: Path = RESULTS) -> Path:
    """The newest results file of the pattern; for bench runs, the newest with every section
    the figures come from."""
    found = sorted(folder.glob(pattern))
    if pattern.startswith("bench-"):
        found = [p for p in found if set(BENCH_SECTIONS_USED) <= set(_load(p)["sections"])]
    if not found:
        raise FileNotFoundError(f"no {pattern} under {folder}: run the measurement first")
    return found[-1]


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def _figure(bench: dict[str, Any], section: str, name: str) -> float:
    for figure in bench["sections"][section]["figures"]:
        if figure["name"] == name:
            return float(figure["value"])
    raise KeyError(f"{section}: no figure {name!r}")


def _cpu(operation: dict[str, Any], actions: float = 0.0) -> ComponentCosts:
    cpu = operation["cpu_ms"]
    return ComponentCosts(
        api=float(cpu.get("api", 0.0)), worker=float(cpu.get("worker", 0.0)),
        postgres=float(cpu.get("postgres", 0.0)), temporal_actions=actions,
    )  # fmt: skip


def _scaled(costs: ComponentCosts, factor: float, actions: float) -> ComponentCosts:
    """A flow with no HTTP of its own, costing `factor` times `costs` in the worker and the db."""
    return ComponentCosts(
        worker=costs.worker * factor, postgres=costs.postgres * factor, temporal_actions=actions
    )


def unit_costs_from(bench: dict[str, Any], units: dict[str, Any], actions: dict[str, Any],
                    sources: tuple[str, ...] = ()) -> UnitCosts:  # fmt: skip
    operations = units["operations"]
    flows = {name: float(flow["actions"]) for name, flow in actions["flows"].items()}
    purchase = _cpu(operations["purchase"], flows[PURCHASE])
    wave = next(
        float(f["value"]) for f in bench["sections"]["subscriptions"]["figures"]
        if f["name"].endswith("paid rate") and f["baseline_name"] == "purchase throughput"
    )  # fmt: skip
    purchase_rate = float(bench["sections"]["purchases"]["facts"]["purchase rate"])
    renewal = _scaled(purchase, purchase_rate / wave, flows[RENEWAL])
    return UnitCosts(
        spend=_cpu(operations["single spend"]),
        batched_spend=_cpu(operations["batched spend"]),
        read=_cpu(operations["wallet read"]),
        subscription_read=_cpu(operations["subscription read"], 1.0),  # one query each
        purchase=purchase,
        renewal=renewal,
        dunning_retry=_scaled(renewal, flows[DUNNING_RETRY] / flows[RENEWAL], flows[DUNNING_RETRY]),
        topup=_scaled(purchase, flows[TOPUP] / flows[PURCHASE], flows[TOPUP]),
        hot_wallet_single_spends_per_second=HOT_WALLET_SINGLE_SPENDS,
        hot_wallet_batched_spends_per_second=_figure(
            bench, "spending", "hot wallet: HTTP batch of 100"
        ),
        sources=sources,
    )


def fixed_actions_per_month(actions: dict[str, Any], jobs: list[Job]) -> float:
    """The job Schedules' actions (recorded histories) and the idle relay's (measured)."""
    idle = actions["flows"][IDLE]
    polling = float(idle["actions"]) / float(actions["idle_seconds"]) * SECONDS_PER_MONTH
    return polling + sum(cost.actions_per_month for cost in job_costs(jobs))


def default_jobs() -> list[Job]:
    """The worker's own job Schedules, at their default crons."""
    return [Job(job.name, job.workflow, job.cron) for job in JOB_SCHEDULES]


def load_unit_costs(folder: Path = RESULTS) -> UnitCosts:
    """Unit costs from the latest bench, unit-cost and action measurements in `folder`."""
    paths = (latest("bench-*.json", folder), latest("unit-costs-*.json", folder),
             latest("actions-*.json", folder))  # fmt: skip
    bench, units, actions = (_load(path) for path in paths)
    costs = unit_costs_from(bench, units, actions, tuple(path.name for path in paths))
    return replace(costs, fixed_actions_per_month=fixed_actions_per_month(actions, default_jobs()))
