"""Recorded subscription histories replay on today's workflow code without non-determinism.

The histories under tests/workflows/histories/ come from the time-skipping scenarios in
test_subscription_workflow.py (see the README on recording them again after a change).
"""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.subscription_helpers import HISTORIES
from worker.main import WORKFLOWS
from workflows.converter import DATA_CONVERTER

RECORDED = sorted(HISTORIES.glob("*.json"))
SCENARIOS = {
    "monthly-cycles", "dunning-recovery", "suspension-resume", "suspension-cancel",
    "hard-decline", "cancel-period-end", "pause-resume", "package-change", "safety-net",
}  # fmt: skip


def test_every_scenario_has_a_recorded_history() -> None:
    assert {path.stem.rsplit("-", 1)[0] for path in RECORDED} == SCENARIOS


@pytest.mark.parametrize("path", RECORDED, ids=[path.stem for path in RECORDED])
async def test_recorded_history_replays_deterministically(path: Path) -> None:
    replayer = Replayer(workflows=WORKFLOWS, data_converter=DATA_CONVERTER)
    result = await replayer.replay_workflow(_history(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


def _history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"recorded-{path.stem}", path.read_text())
