"""The goals that set one section's figure against another section's, computed once every section
of the run has finished (so each ratio still compares two figures of the same run, on the same
servers). Each becomes a row of the `goals` section; a goal whose sections did not both run is
listed as not measured, never guessed.

To hold a new figure to another section's, add a CrossGoal to `cross_goals`: the figure and its
baseline are named by section and figure name (a figure's value, or else a fact of the section).
"""

import math
from dataclasses import dataclass

from bench import peers
from bench.figures import Figure, Goal, SectionResult
from bench.options import Options

SECTION = "goals"


@dataclass(frozen=True)
class Measured:
    section: str
    name: str

    def value(self, results: dict[str, SectionResult]) -> float | None:
        """The figure's value, else the fact's; None when the section did not run."""
        result = results.get(self.section)
        if result is None:
            return None
        for figure in result.figures:
            if figure.name == self.name:
                return figure.value
        fact = result.facts.get(self.name)
        return None if fact is None else float(fact)

    def __str__(self) -> str:
        return f"{self.section}: {self.name}"


@dataclass(frozen=True)
class CrossGoal:
    name: str
    figure: Measured
    baseline: Measured
    unit: str
    goal: Goal


def cross_goals(options: Options) -> list[CrossGoal]:
    hot, spread = peers.scenarios(options.wallets)
    return [
        CrossGoal(
            "HTTP single spends, one hot wallet",
            Measured("spending", f"{hot}: HTTP single spend"),
            Measured(peers.SECTION, f"{peers.pgledger_name(hot)} rate"),
            "spends/s", Goal(1.0),
        ),
        CrossGoal(
            f"HTTP single spends over {spread}",
            Measured("spending", f"{spread}: HTTP single spend"),
            Measured(peers.SECTION, f"{peers.pgledger_name(spread)} rate"),
            "spends/s", Goal(0.5),
        ),
        # The holds section (bench/holds.py) names its row so; until it runs, not measured.
        CrossGoal(
            "a hold plus its capture, one hot wallet",
            Measured("holds", f"{hot}: HTTP hold + capture"),
            Measured("spending", f"{hot}: HTTP single spend"),
            "pairs/s", Goal(0.5),
        ),
    ]  # fmt: skip


def evaluate(
    results: dict[str, SectionResult], goals: list[CrossGoal]
) -> tuple[SectionResult, list[str]]:
    """The goals both of whose figures were measured, as figures; the names of the others."""
    figures: list[Figure] = []
    missing: list[str] = []
    for goal in goals:
        value, baseline = goal.figure.value(results), goal.baseline.value(results)
        if value is None or baseline is None or math.isnan(value) or math.isnan(baseline):
            missing.append(f"{goal.name} ({goal.figure} against {goal.baseline})")
            continue
        figures.append(
            Figure(SECTION, goal.name, value, goal.unit, str(goal.baseline), baseline, goal.goal)
        )
    return SectionResult(figures, {}), missing
