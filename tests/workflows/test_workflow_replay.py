"""Every recorded history under tests/workflows/histories/ replays on today's workflow code, with
every workflow the worker registers, without non-determinism (DESIGN rule 8).

The histories come from the scenarios of the workflow, job and API tests (see the README on
recording them again). A workflow change that alters the commands of a recorded history must be
guarded by `workflow.patched` (or be a new workflow type), or this test fails.
"""

import json
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.history_recording import HISTORIES
from worker.registry import WORKFLOWS
from workflows.converter import DATA_CONVERTER

RECORDED = sorted(HISTORIES.glob("*.json"))
TEXTS = {path: path.read_text() for path in RECORDED}
SCENARIOS = {
    # SubscriptionWorkflow and the subscription safety net
    "monthly-cycles", "dunning-recovery", "suspension-resume", "suspension-cancel",
    "hard-decline", "cancel-period-end", "pause-resume", "package-change", "safety-net",
    "renewal-requires-action",
    # PurchaseWorkflow and ResumePendingPurchasesWorkflow
    "purchase-completed", "purchase-declined", "purchase-timeout-once", "purchase-refunded",
    "resume-pending-purchases", "purchase-requires-action",
    # Notifications: the outbox relay, webhook deliveries, the balance checks
    "outbox-relay", "webhook-delivery-retried", "webhook-delivery-refused",
    "low-balance-check", "auto-topup-check",
    # AutoTopupWorkflow
    "auto-topup-burst", "auto-topup-schedule", "auto-topup-suspended",
    "auto-topup-earlier-purchase",
    # Scheduled jobs
    "cleanup-expired-tokens", "reconcile-wallet-balances", "update-usage-forecasts",
    "renewal-reminders", "generate-monthly-reports", "cleanup-old-audit-logs", "expire-holds",
    "reconcile-provider-payments",
}  # fmt: skip


def _scenario(path: Path) -> str:
    return path.stem.rsplit("-", 1)[0]


def _workflow_type(path: Path) -> str:
    first = json.loads(TEXTS[path])["events"][0]
    name: str = first["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]
    return name


def test_every_scenario_has_a_recorded_history() -> None:
    assert {_scenario(path) for path in RECORDED} == SCENARIOS


def test_every_registered_workflow_has_a_recorded_history() -> None:
    registered = {workflow._Definition.must_from_class(cls).name for cls in WORKFLOWS}
    assert registered == {_workflow_type(path) for path in RECORDED}


@pytest.mark.parametrize("path", RECORDED, ids=[path.stem for path in RECORDED])
async def test_recorded_history_replays_deterministically(path: Path) -> None:
    replayer = Replayer(workflows=WORKFLOWS, data_converter=DATA_CONVERTER)
    history = WorkflowHistory.from_json(f"recorded-{path.stem}", TEXTS[path])
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
