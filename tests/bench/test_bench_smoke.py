"""The bench runner on tiny sizes, so it keeps working: what it measured went right (every
purchase completed, every period of the wave paid). Its speed is the bench's business."""

import asyncio
import math
from pathlib import Path

import pytest

from bench.figures import Figure, Goal, SectionResult
from bench.goals import CrossGoal, Measured, evaluate
from bench.options import SECTIONS, parse_options
from bench.runner import run_sections, stack_options
from bench.stack import BenchStack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

TINY = [
    "--seconds", "0.3", "--concurrency", "2", "--wallets", "3", "--batch-size", "5",
    "--purchase-seconds", "1", "--purchase-concurrency", "2", "--read-seconds", "0.3",
    "--read-concurrency", "2", "--subscriptions", "4", "--subscription-concurrency", "2",
    "--wave-timeout", "120",
]  # fmt: skip


def test_every_section_measures_completed_work_beside_its_baseline(tmp_path: Path) -> None:
    options = parse_options(TINY)
    assert options.only == SECTIONS
    stack = BenchStack(tmp_path, stack_options(options))
    try:
        stack.start()
        results = asyncio.run(run_sections(stack, options))
    finally:
        stack.stop()
    assert set(results) == {*SECTIONS, "goals"}
    for result in results.values():
        for figure in result.figures:
            assert figure.value > 0 and figure.baseline_value > 0, figure
            assert math.isfinite(figure.ratio), figure
    peered = results["peers"].facts
    assert peered["ledger_spend spends applied"] > 0 and peered["pgledger transfers booked"] > 0
    assert all(v == 0 for k, v in peered.items() if k.endswith("failed transactions")), peered
    assert [f.name for f in results["peers"].figures] == [
        "hot wallet: ledger_spend", "3 wallets: ledger_spend",
    ]  # fmt: skip
    assert [f.name for f in results["goals"].figures] == [
        "HTTP single spends, one hot wallet", "HTTP single spends over 3 wallets",
        "a hold plus its capture, one hot wallet",
    ]  # fmt: skip
    bought = results["purchases"].facts
    assert bought["purchases measured"] == bought["purchases completed"] > 0
    assert bought["baseline workflows measured"] == bought["baseline workflows completed"] > 0
    wave = results["subscriptions"].facts
    assert wave["periods paid"] == 4
    assert wave["periods unpaid"] == wave["subscriptions not active"] == 0
    assert [limit.name for limit in results["subscriptions"].limits] == [
        "worker RSS growth per live subscription"
    ]
    scaled = results["scale-out"]
    assert [f.name for f in scaled.figures] == [
        "1 API + 1 worker: HTTP single spend", "1 API + 1 worker: purchase over HTTP",
        "2 APIs + 2 workers: HTTP single spend", "2 APIs + 2 workers: purchase over HTTP",
    ]  # fmt: skip
    assert all(count == 0 for count in scaled.facts.values()), scaled.facts


def test_only_runs_the_sections_asked_for() -> None:
    options = parse_options(["--only", "reads", "--only", "spending"])
    assert options.only == ("reads", "spending")


def test_a_goal_across_sections_compares_two_figures_of_the_run_or_says_it_was_not_measured() -> (
    None
):
    results = {
        "peers": SectionResult([], {"peer rate": 400.0}),
        "spending": SectionResult([Figure("spending", "spend", 300.0, "spends/s", "x", 1.0)], {}),
    }
    goals = [
        CrossGoal("spends", Measured("spending", "spend"), Measured("peers", "peer rate"),
                  "spends/s", Goal(1.0)),
        CrossGoal("holds", Measured("holds", "hold"), Measured("spending", "spend"),
                  "pairs/s", Goal(0.5)),
    ]  # fmt: skip
    across, missing = evaluate(results, goals)
    [figure] = across.figures
    assert (figure.value, figure.baseline_value, figure.met) == (300.0, 400.0, False)
    assert figure.baseline_name == "peers: peer rate"
    assert missing == ["holds (holds: hold against spending: spend)"]
