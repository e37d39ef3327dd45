"""The plan as a table for people, or as JSON."""

import dataclasses
from typing import Any

from capacity.model import Plan


def _rate(value: float) -> str:
    return f"{value:.3g}" if value < 10 else f"{value:,.0f}"


def render(made: Plan) -> str:
    p, r, s = made.population, made.rates, made.skew
    lines = [
        f"population {p.name}: {p.organizations:,} organisations, "
        f"{p.spends_per_org_per_day:,.0f} spends/org/day ({p.batched_share:.0%} batched), "
        f"{p.purchases_per_org_per_month:g} purchases and {p.topups_per_org_per_month:g} "
        f"top-ups/org/month, {p.subscribed_share:.0%} subscribed, Zipf {p.zipf_exponent:g}, "
        f"peak {p.peak_to_average:g}x average",
        f"box: {made.box.name} ({made.box.vcpus} vCPU, core speed {made.box.core_speed:g}x the "
        f"measured machine's, {made.box.target_utilisation:.0%} target utilisation)",
        "",
        "average rates /s: "
        + ", ".join(
            f"{name.replace('_', ' ')} {_rate(value)}"
            for name, value in dataclasses.asdict(r).items()
        ),
        f"hottest organisation: {s.hottest_share:.1%} of spends "
        f"({_rate(s.hottest_peak_spends_per_second)}/s at the peak); top 1%: "
        f"{s.top_percent_share:.1%}",
        "",
        f"{'component':<12} {'demand at peak':>16}  {'one unit carries':>16}  {'needed':>6}  unit",
    ]
    for load in made.loads:
        lines.append(
            f"{load.component:<12} {_rate(load.demand):>16}  {_rate(load.one_unit):>16}  "
            f"{'-' if load.needed is None else load.needed:>6}  {load.unit}"
        )
    first, hard = made.saturates_first, made.first_hard_limit
    lines += [
        "",
        f"Temporal actions: {made.average_actions_per_second:,.1f}/s on average, "
        f"{made.peak_actions_per_second:,.1f}/s at the peak, {made.actions_per_month / 1e6:,.1f} "
        f"million a month (about {made.cloud_cost_per_month:,.0f} USD a month on Temporal Cloud), "
        f"{made.fixed_actions_per_month / 1e6:,.2f} million of them whatever the population "
        "(job schedules, the outbox relay's polling)",
        f"saturates first: {first.component} (one unit would be at "
        f"{first.load_on_one:.0%} of what it carries)",
        f"nearest limit more API processes and workers do not lift: {hard.component} at "
        f"{hard.load_on_one:.0%} of one unit",
    ]
    lines += [f"WARNING: {warning}" for warning in made.warnings]
    if made.sources:
        lines.append(f"measured in: {', '.join(made.sources)} (bench/results/)")
    return "\n".join(lines)


def as_dict(made: Plan) -> dict[str, Any]:
    document = dataclasses.asdict(made)
    document["saturates_first"] = made.saturates_first.component
    document["first_hard_limit"] = made.first_hard_limit.component
    return document
