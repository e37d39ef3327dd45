"""The action counter gives, on recorded histories (tests/workflows/histories/), the counts the
published Temporal Cloud rules give by hand."""

import json
from typing import Any

import pytest

from capacity.actions import (
    ACTIVITY,
    CHILD_WORKFLOW,
    LOCAL_ACTIVITIES,
    SIGNAL,
    SIGNAL_WITH_START,
    TIMER,
    UPDATE,
    UPSERT,
    WORKFLOW_STARTED,
    activity_scheduled_ids,
    count_actions,
)
from tests.history_recording import HISTORIES


def _history(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((HISTORIES / f"{name}.json").read_text())
    return loaded


def test_completed_purchase_costs_a_start_a_charge_and_two_local_activity_tasks() -> None:
    counted = count_actions(_history("purchase-completed-0"))
    assert counted.workflow_type == "PurchaseWorkflow"
    assert counted.by_kind() == {WORKFLOW_STARTED: 1, ACTIVITY: 1, LOCAL_ACTIVITIES: 2}
    assert counted.total == 4


def test_a_retried_charge_costs_one_action_per_attempt() -> None:
    counted = count_actions(_history("purchase-timeout-once-0"))
    assert counted.by_kind()[ACTIVITY] == 2
    assert counted.total == 5


def test_a_billing_cycle_counts_its_continue_as_new_start_timers_upserts_and_charge() -> None:
    counted = count_actions(_history("monthly-cycles-1"))
    assert counted.by_kind() == {
        WORKFLOW_STARTED: 1, UPSERT: 2, LOCAL_ACTIVITIES: 3, TIMER: 2, ACTIVITY: 1,
    }  # fmt: skip
    assert counted.total == 9


def test_a_dunning_retry_costs_six_actions_between_two_declined_charges() -> None:
    history = _history("dunning-recovery-1")
    counted = count_actions(history)
    charges = activity_scheduled_ids(history, "subscription.charge")
    assert len(charges) == 3
    assert counted.between(charges[0], charges[1]) == 6
    assert counted.by_kind()[UPDATE] == 1
    assert counted.total == 22


def test_signal_with_start_is_one_action_and_each_later_signal_one_more() -> None:
    counted = count_actions(_history("auto-topup-burst-0"))
    assert counted.by_kind() == {
        SIGNAL_WITH_START: 1, SIGNAL: 24, ACTIVITY: 2, CHILD_WORKFLOW: 2, TIMER: 1,
    }  # fmt: skip


def test_a_child_run_does_not_pay_its_own_start_again() -> None:
    history = _history("purchase-completed-0")
    history["events"][0]["workflowExecutionStartedEventAttributes"]["parentWorkflowExecution"] = {
        "workflowId": "auto-topup-1", "runId": "r",
    }  # fmt: skip
    assert count_actions(history).total == 3


def test_an_upsert_of_the_version_attribute_alone_is_free() -> None:
    history = _history("monthly-cycles-1")
    for event in history["events"]:
        attributes = event.get("upsertWorkflowSearchAttributesEventAttributes")
        if attributes is not None:
            attributes["searchAttributes"]["indexedFields"] = {"TemporalChangeVersion": {}}
    assert UPSERT not in count_actions(history).by_kind()


def test_a_history_that_does_not_start_with_the_start_event_is_refused() -> None:
    history = _history("purchase-completed-0")
    history["events"] = history["events"][1:]
    with pytest.raises(ValueError):
        count_actions(history)
