"""What a population of organisations needs: API processes, workers, Temporal actions and
database nodes, from per-operation costs measured on the reference machine (pure arithmetic; the
measurements are read by capacity/measurements.py).

The method (docs/scaling.md): each operation costs CPU milliseconds in each component (measured);
a component's demand at the peak is the sum over operations of rate x cost, in cores of the
reference machine, divided by the production box's core speed. A Python process (API or worker)
uses one core, so it carries `target_utilisation` of a core; a PostgreSQL node carries its vCPUs x
`postgres_core_efficiency` x `target_utilisation`. A wallet is one row: one organisation's spends
serialise on its lock, whatever the number of nodes, so the hottest organisation's spend rate is
set against the measured ceiling of one hot wallet.
"""

import math
from dataclasses import dataclass, field

SECONDS_PER_DAY = 86_400
SECONDS_PER_MONTH = 30 * SECONDS_PER_DAY
HARD_LIMITS = ("postgres", "temporal", "hot wallet")


@dataclass(frozen=True)
class Population:
    """Organisations and what they do, on average (rates per organisation)."""

    name: str = "default"
    organizations: int = 20_000
    spends_per_org_per_day: float = 2_000.0
    batched_share: float = 0.0  # of spends sent in batches (POST /consumptions), not one by one
    purchases_per_org_per_month: float = 1.0
    subscribed_share: float = 0.3  # of organisations with a monthly subscription
    declined_renewal_share: float = 0.05  # of renewals whose charge is declined at first
    retries_per_declined_renewal: float = 2.0
    topups_per_org_per_month: float = 2.0
    reads_per_org_per_day: float = 200.0  # wallet, history and purchase reads
    subscription_reads_per_org_per_day: float = 5.0  # each a query of the live workflow
    zipf_exponent: float = 1.0  # spend skew over organisations; 0 spreads it evenly
    peak_to_average: float = 3.0


@dataclass(frozen=True)
class ComponentCosts:
    """CPU milliseconds of one operation in each component (reference machine)."""

    api: float = 0.0
    worker: float = 0.0
    postgres: float = 0.0
    temporal_actions: float = 0.0  # billable actions (not CPU)


@dataclass(frozen=True)
class UnitCosts:
    """Per-operation costs and the ceilings of one wallet row, as measured."""

    spend: ComponentCosts
    batched_spend: ComponentCosts
    read: ComponentCosts
    subscription_read: ComponentCosts
    purchase: ComponentCosts
    renewal: ComponentCosts
    dunning_retry: ComponentCosts
    topup: ComponentCosts
    hot_wallet_single_spends_per_second: float
    hot_wallet_batched_spends_per_second: float
    sources: tuple[str, ...] = ()
    fixed_actions_per_month: float = 0.0  # whatever the population: job schedules, relay polls


@dataclass(frozen=True)
class Box:
    """The production box every process or node runs on."""

    name: str = "16 vCPU, NVMe SSD"
    vcpus: int = 16
    core_speed: float = 1.0  # one core's speed against one core of the reference machine
    target_utilisation: float = 0.6  # headroom for the peak of the peak and a lost process
    postgres_core_efficiency: float = 0.7  # what the 16th core adds, against the first


@dataclass(frozen=True)
class TemporalPlan:
    namespace_actions_per_second: float = 400.0  # Temporal Cloud's default namespace limit
    price_per_million_actions: float = 50.0  # USD, list price of the first tier


@dataclass(frozen=True)
class Rates:
    """Operations per second, on average."""

    spends: float
    batched_spends: float
    reads: float
    subscription_reads: float
    purchases: float
    renewals: float
    dunning_retries: float
    topups: float


@dataclass(frozen=True)
class Skew:
    hottest_share: float  # of all spends, the hottest organisation's
    top_percent_share: float  # of all spends, the top 1% of organisations'
    hottest_peak_spends_per_second: float
    hottest_peak_single_spends_per_second: float


@dataclass(frozen=True)
class Load:
    """One component: demand at the peak against one unit's capacity."""

    component: str
    unit: str
    demand: float  # in units of `unit`
    one_unit: float  # what one unit carries, same units
    needed: int | None  # None: no second unit helps (one wallet is one row)

    @property
    def load_on_one(self) -> float:
        return self.demand / self.one_unit if self.one_unit else math.inf


@dataclass(frozen=True)
class Plan:
    population: Population
    box: Box
    rates: Rates
    skew: Skew
    loads: tuple[Load, ...]
    average_actions_per_second: float
    peak_actions_per_second: float
    actions_per_month: float
    fixed_actions_per_month: float
    cloud_cost_per_month: float
    warnings: tuple[str, ...] = field(default_factory=tuple)
    sources: tuple[str, ...] = field(default_factory=tuple)

    def load(self, component: str) -> Load:
        return next(load for load in self.loads if load.component == component)

    @property
    def saturates_first(self) -> Load:
        """With one unit of each, the component furthest past what it carries."""
        return max(self.loads, key=lambda load: load.load_on_one)

    @property
    def first_hard_limit(self) -> Load:
        """Of the limits more processes do not lift (the wallet row, the PostgreSQL primary,
        the namespace), the nearest."""
        return max(
            (load for load in self.loads if load.component in HARD_LIMITS),
            key=lambda load: load.load_on_one,
        )


def rates_of(population: Population) -> Rates:
    p = population
    spends = p.organizations * p.spends_per_org_per_day / SECONDS_PER_DAY
    renewals = p.organizations * p.subscribed_share / SECONDS_PER_MONTH
    return Rates(
        spends=spends * (1 - p.batched_share),
        batched_spends=spends * p.batched_share,
        reads=p.organizations * p.reads_per_org_per_day / SECONDS_PER_DAY,
        subscription_reads=p.organizations
        * p.subscribed_share
        * p.subscription_reads_per_org_per_day
        / SECONDS_PER_DAY,
        purchases=p.organizations * p.purchases_per_org_per_month / SECONDS_PER_MONTH,
        renewals=renewals,
        dunning_retries=renewals * p.declined_renewal_share * p.retries_per_declined_renewal,
        topups=p.organizations * p.topups_per_org_per_month / SECONDS_PER_MONTH,
    )


def zipf_share(organizations: int, exponent: float, top: int) -> float:
    """Share of the `top` largest of `organizations` under Zipf's law with this exponent."""
    weights = [math.pow(rank, -exponent) for rank in range(1, organizations + 1)]
    return math.fsum(weights[:top]) / math.fsum(weights)


def skew_of(population: Population, rates: Rates) -> Skew:
    n = population.organizations
    hottest = zipf_share(n, population.zipf_exponent, 1)
    top = zipf_share(n, population.zipf_exponent, max(1, n // 100))
    peak = population.peak_to_average
    return Skew(
        hottest_share=hottest,
        top_percent_share=top,
        hottest_peak_spends_per_second=(rates.spends + rates.batched_spends) * hottest * peak,
        hottest_peak_single_spends_per_second=rates.spends * hottest * peak,
    )


def _operations(rates: Rates, costs: UnitCosts) -> list[tuple[float, ComponentCosts]]:
    return [
        (rates.spends, costs.spend),
        (rates.batched_spends, costs.batched_spend),
        (rates.reads, costs.read),
        (rates.subscription_reads, costs.subscription_read),
        (rates.purchases, costs.purchase),
        (rates.renewals, costs.renewal),
        (rates.dunning_retries, costs.dunning_retry),
        (rates.topups, costs.topup),
    ]


def _cores(operations: list[tuple[float, ComponentCosts]], component: str, peak: float) -> float:
    """Cores of the reference machine that `component` needs at the peak."""
    milliseconds: float = sum(rate * float(getattr(cost, component)) for rate, cost in operations)
    return milliseconds * peak / 1000


def _needed(demand: float, one_unit: float) -> int:
    return max(1, math.ceil(demand / one_unit - 1e-9))


def plan(
    population: Population,
    costs: UnitCosts,
    box: Box = Box(),
    temporal: TemporalPlan = TemporalPlan(),
) -> Plan:
    rates = rates_of(population)
    skew = skew_of(population, rates)
    operations = _operations(rates, costs)
    peak = population.peak_to_average
    per_process = box.target_utilisation  # a Python process runs on one core
    per_node = box.vcpus * box.postgres_core_efficiency * box.target_utilisation
    loads: list[Load] = []
    for component, unit_name, one_unit in (
        ("api", "API processes", per_process),
        ("worker", "workers", per_process),
        ("postgres", "PostgreSQL primaries", per_node),
    ):
        demand = _cores(operations, component, peak) / box.core_speed
        loads.append(Load(component, f"cores ({unit_name})", demand, one_unit,
                          _needed(demand, one_unit)))  # fmt: skip
    fixed_aps = costs.fixed_actions_per_month / SECONDS_PER_MONTH
    flows_aps = sum(rate * cost.temporal_actions for rate, cost in operations)
    average_aps = flows_aps + fixed_aps
    peak_aps = flows_aps * peak + fixed_aps
    loads.append(
        Load("temporal", "actions/s (namespaces at the default limit)", peak_aps,
             temporal.namespace_actions_per_second,
             _needed(peak_aps, temporal.namespace_actions_per_second))
    )  # fmt: skip
    loads.append(
        Load("hot wallet", "single spends/s (or their batched equivalent) on the hottest row",
             _hot_row_demand(skew, costs), costs.hot_wallet_single_spends_per_second, None)
    )  # fmt: skip
    warnings = _warnings(skew, costs, loads, per_node, box)
    actions_per_month = average_aps * SECONDS_PER_MONTH
    return Plan(
        population=population, box=box, rates=rates, skew=skew, loads=tuple(loads),
        average_actions_per_second=average_aps, peak_actions_per_second=peak_aps,
        actions_per_month=actions_per_month,
        fixed_actions_per_month=costs.fixed_actions_per_month,
        cloud_cost_per_month=actions_per_month / 1e6 * temporal.price_per_million_actions,
        warnings=tuple(warnings), sources=costs.sources,
    )  # fmt: skip


def _hot_row_demand(skew: Skew, costs: UnitCosts) -> float:
    """The hottest wallet row's peak load in single spends/s: a batched spend holds the row
    for single/batched ceiling of the time a single spend does."""
    batched = skew.hottest_peak_spends_per_second - skew.hottest_peak_single_spends_per_second
    ratio = costs.hot_wallet_single_spends_per_second / costs.hot_wallet_batched_spends_per_second
    return skew.hottest_peak_single_spends_per_second + batched * ratio


def _warnings(
    skew: Skew, costs: UnitCosts, loads: list[Load], per_node: float, box: Box
) -> list[str]:
    warnings = []
    single, batched = (
        costs.hot_wallet_single_spends_per_second,
        costs.hot_wallet_batched_spends_per_second,
    )
    if skew.hottest_peak_spends_per_second > batched:
        warnings.append(
            f"the hottest organisation spends {skew.hottest_peak_spends_per_second:,.0f}/s at the "
            f"peak, above even batched spends on one wallet row ({batched:,.0f}/s): more "
            "nodes do not help (a wallet is one row on one node); give it holds (reserve a "
            "budget once, settle in bulk) or several wallets"
        )
    elif _hot_row_demand(skew, costs) > single:
        warnings.append(
            f"the hottest organisation spends {skew.hottest_peak_single_spends_per_second:,.0f}"
            f" single spends/s at the peak ({skew.hottest_peak_spends_per_second:,.0f}/s in all),"
            f" above one wallet row's {single:,.0f}/s: more nodes "
            "do not help (a wallet is one row on one node); coalesce its spends into batches "
            f"(POST /consumptions, {batched:,.0f}/s measured) or use holds"
        )
    postgres = next(load for load in loads if load.component == "postgres")
    hottest_cores = postgres.demand * skew.hottest_share
    if hottest_cores > per_node:
        warnings.append(
            f"the hottest organisation alone needs {hottest_cores:.1f} PostgreSQL cores, more "
            f"than one {box.name} node gives ({per_node:.1f}): distribution by organisation "
            "cannot split it"
        )
    return warnings
