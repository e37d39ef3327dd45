"""The capacity model's arithmetic on chosen populations and round unit costs."""

from dataclasses import replace

import pytest

from capacity.model import (
    SECONDS_PER_DAY,
    SECONDS_PER_MONTH,
    Box,
    ComponentCosts,
    Population,
    TemporalPlan,
    UnitCosts,
    plan,
    zipf_share,
)

FREE = ComponentCosts()
COSTS = UnitCosts(
    spend=ComponentCosts(api=1.0, postgres=0.5),
    batched_spend=ComponentCosts(api=0.1, postgres=0.2),
    read=ComponentCosts(api=4.0, postgres=1.0),
    subscription_read=ComponentCosts(api=5.0, worker=3.0, temporal_actions=1),
    purchase=ComponentCosts(api=20.0, worker=50.0, postgres=10.0, temporal_actions=4),
    renewal=ComponentCosts(worker=70.0, postgres=14.0, temporal_actions=16),
    dunning_retry=ComponentCosts(worker=30.0, postgres=6.0, temporal_actions=6),
    topup=ComponentCosts(worker=200.0, postgres=40.0, temporal_actions=17),
    hot_wallet_single_spends_per_second=1_400.0,
    hot_wallet_batched_spends_per_second=7_500.0,
)
# Spends only, evenly over the organisations, one core per process, no headroom kept.
SPENDERS = Population(
    name="spenders", organizations=1_000, spends_per_org_per_day=86_400.0,
    purchases_per_org_per_month=0.0, subscribed_share=0.0, topups_per_org_per_month=0.0,
    reads_per_org_per_day=0.0, subscription_reads_per_org_per_day=0.0, zipf_exponent=0.0,
    peak_to_average=1.0,
)  # fmt: skip
WHOLE_CORES = Box(vcpus=10, target_utilisation=1.0, postgres_core_efficiency=1.0)


def test_one_spend_per_second_per_organisation_needs_one_api_core_per_thousand() -> None:
    made = plan(SPENDERS, COSTS, WHOLE_CORES)
    assert made.rates.spends == pytest.approx(1_000.0)
    assert made.load("api").demand == pytest.approx(1.0)  # 1,000/s x 1 ms
    assert made.load("api").needed == 1
    assert made.load("postgres").demand == pytest.approx(0.5)


def test_doubling_the_spend_rate_doubles_the_api_processes_needed() -> None:
    base = replace(SPENDERS, spends_per_org_per_day=4 * 86_400.0)
    doubled = replace(base, spends_per_org_per_day=8 * 86_400.0)
    assert plan(base, COSTS, WHOLE_CORES).load("api").needed == 4
    assert plan(doubled, COSTS, WHOLE_CORES).load("api").needed == 8


def test_the_peak_factor_multiplies_every_demand_but_not_the_monthly_actions() -> None:
    everything = Population(organizations=10_000, peak_to_average=1.0)
    peaked = replace(everything, peak_to_average=3.0)
    flat, high = plan(everything, COSTS), plan(peaked, COSTS)
    for component in ("api", "worker", "postgres", "temporal"):
        assert high.load(component).demand == pytest.approx(3 * flat.load(component).demand)
    assert high.actions_per_month == pytest.approx(flat.actions_per_month)


def test_a_process_carries_its_target_utilisation_of_one_core() -> None:
    load = replace(SPENDERS, spends_per_org_per_day=3 * 86_400.0)  # 3 cores of API
    assert plan(load, COSTS, Box(target_utilisation=0.6)).load("api").needed == 5  # 3 / 0.6
    assert plan(load, COSTS, Box(target_utilisation=0.6, core_speed=2.0)).load("api").needed == 3


def test_temporal_actions_add_up_per_flow_and_price_per_million() -> None:
    population = replace(
        SPENDERS, spends_per_org_per_day=0.0, purchases_per_org_per_month=1.0,
        subscribed_share=1.0, declined_renewal_share=0.5, retries_per_declined_renewal=2.0,
        topups_per_org_per_month=1.0,
    )  # fmt: skip
    made = plan(population, COSTS, WHOLE_CORES, TemporalPlan(price_per_million_actions=50.0))
    # per organisation and month: 4 (purchase) + 16 (renewal) + 0.5 x 2 x 6 (retries) + 17
    assert made.actions_per_month == pytest.approx(1_000 * (4 + 16 + 6 + 17))
    assert made.average_actions_per_second == pytest.approx(43_000 / SECONDS_PER_MONTH)
    assert made.cloud_cost_per_month == pytest.approx(43_000 / 1e6 * 50.0)


def test_fixed_actions_add_to_every_second_and_are_not_peaked() -> None:
    idle = replace(SPENDERS, spends_per_org_per_day=0.0, peak_to_average=3.0)
    fixed = replace(COSTS, fixed_actions_per_month=float(SECONDS_PER_MONTH))  # 1 action/s
    made = plan(idle, fixed, WHOLE_CORES)
    assert made.average_actions_per_second == pytest.approx(1.0)
    assert made.peak_actions_per_second == pytest.approx(1.0)
    assert made.actions_per_month == pytest.approx(SECONDS_PER_MONTH)


def test_subscription_reads_cost_one_query_action_each() -> None:
    population = replace(SPENDERS, spends_per_org_per_day=0.0, subscribed_share=0.5,
                         subscription_reads_per_org_per_day=86_400.0)  # fmt: skip
    made = plan(population, COSTS, WHOLE_CORES)
    renewals = 500 * 16 / SECONDS_PER_MONTH  # the 500 subscriptions renew too
    assert made.average_actions_per_second == pytest.approx(500.0 + renewals)
    assert made.load("temporal").needed == 2  # over the default 400 actions/s of a namespace


def test_a_hot_organisation_over_one_wallet_rows_limit_is_flagged() -> None:
    # Zipf 1 over 10 organisations: the first takes 1 / H(10) = 34% of 6,000 spends/s.
    hot = replace(SPENDERS, organizations=10, spends_per_org_per_day=600.0 * SECONDS_PER_DAY,
                  zipf_exponent=1.0)  # fmt: skip
    made = plan(hot, COSTS, WHOLE_CORES)
    assert made.skew.hottest_peak_single_spends_per_second == pytest.approx(6_000 / 2.9289683)
    assert made.load("hot wallet").load_on_one > 1
    assert made.load("hot wallet").needed is None  # a second node does not split a wallet
    assert any("coalesce" in warning for warning in made.warnings)


def test_batched_spends_lift_the_hot_wallet_limit_until_the_batched_ceiling() -> None:
    hot = replace(SPENDERS, organizations=10, spends_per_org_per_day=600.0 * SECONDS_PER_DAY,
                  zipf_exponent=1.0, batched_share=1.0)  # fmt: skip
    assert plan(hot, COSTS, WHOLE_CORES).warnings == ()
    hotter = replace(hot, spends_per_org_per_day=3_000.0 * SECONDS_PER_DAY)
    assert any("holds" in warning for warning in plan(hotter, COSTS, WHOLE_CORES).warnings)


def test_single_and_batched_spends_share_the_hot_rows_time() -> None:
    # The hottest of 10 organisations: 1,000 single + 3,750 batched spends/s at the peak: 1,000
    # + 3,750 x 1,400 / 7,500 = 1,700 single-spend equivalents, over the row's 1,400.
    share = zipf_share(10, 1.0, 1)
    hot = replace(SPENDERS, organizations=10, zipf_exponent=1.0,
                  spends_per_org_per_day=4_750 / share / 10 * SECONDS_PER_DAY,
                  batched_share=3_750 / 4_750)  # fmt: skip
    made = plan(hot, COSTS, WHOLE_CORES)
    assert made.load("hot wallet").demand == pytest.approx(1_700.0)
    assert any("coalesce" in warning for warning in made.warnings)


def test_an_even_population_has_no_hot_organisation() -> None:
    made = plan(SPENDERS, COSTS, WHOLE_CORES)
    assert made.skew.hottest_share == pytest.approx(1 / 1_000)
    assert made.skew.top_percent_share == pytest.approx(0.01)
    assert made.warnings == ()


def test_postgres_nodes_follow_the_cores_one_node_gives() -> None:
    heavy = replace(SPENDERS, spends_per_org_per_day=50 * 86_400.0)  # 25 cores of PostgreSQL
    made = plan(heavy, COSTS, Box(vcpus=16, target_utilisation=0.5, postgres_core_efficiency=1.0))
    assert made.load("postgres").needed == 4  # 25 / (16 x 0.5)


def test_the_component_nearest_its_limit_saturates_first() -> None:
    reads = replace(SPENDERS, spends_per_org_per_day=0.0, reads_per_org_per_day=SECONDS_PER_DAY)
    assert plan(reads, COSTS, WHOLE_CORES).saturates_first.component == "api"
    queried = replace(reads, reads_per_org_per_day=0.0, subscribed_share=1.0,
                      subscription_reads_per_org_per_day=SECONDS_PER_DAY)  # fmt: skip
    cheap_queries = replace(COSTS, subscription_read=ComponentCosts(api=0.5, temporal_actions=1))
    # 1,000 queries/s: half an API core, two and a half namespaces' worth of actions
    assert plan(queried, cheap_queries, WHOLE_CORES).saturates_first.component == "temporal"


def test_the_nearest_hard_limit_ignores_what_more_processes_lift() -> None:
    hot = replace(SPENDERS, organizations=10, spends_per_org_per_day=600.0 * SECONDS_PER_DAY,
                  zipf_exponent=1.0)  # fmt: skip
    made = plan(hot, COSTS, WHOLE_CORES)
    assert made.saturates_first.component == "api"  # 6 cores, one per process
    assert made.first_hard_limit.component == "hot wallet"


def test_zipf_share_of_the_top_under_exponent_one() -> None:
    assert zipf_share(4, 1.0, 1) == pytest.approx(1 / (1 + 1 / 2 + 1 / 3 + 1 / 4))
    assert zipf_share(4, 0.0, 2) == pytest.approx(0.5)
