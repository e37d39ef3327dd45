"""Billable Temporal Cloud actions of one workflow run, counted from its event history (the JSON
that `WorkflowHistory.to_json()` writes), by the published rules:
https://docs.temporal.io/cloud/actions

Counted from the history:
- workflow started: 1 (a client start, a continue-as-new run's own start, a schedule's start);
  0 for a child run, whose start its parent already paid; 1 in all for a signal-with-start
  that started the run (its first signal is part of that one action);
- a run started by a Schedule: 2 more (the schedule's own part of its 3 actions a run);
- activity started or retried: one per attempt (the started event's `attempt`);
- local activities: one per workflow task that recorded any (the markers of a task count once);
- timer started, search-attribute upsert (but not one that only sets TemporalChangeVersion),
  signal received (every signal lands in exactly one history), update accepted;
- child workflow started: 2 (the start and the execution);
- workflow execution options updated: 1.

Not in a history, so not counted here: queries, rejected updates, activity heartbeats, exports
(the simulation adds the queries the API sends).
"""

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PREFIX = "EVENT_TYPE_"
LOCAL_ACTIVITY_MARKER = "core_local_activity"
VERSION_ATTRIBUTE = "TemporalChangeVersion"
SCHEDULE_ATTRIBUTE = "TemporalScheduledById"
SCHEDULE_EXTRA_ACTIONS = 2

# Kinds of billable action, as the report names them.
WORKFLOW_STARTED = "workflow started"
SIGNAL_WITH_START = "signal-with-start"
SCHEDULE_RUN = "schedule run"
ACTIVITY = "activity attempt"
LOCAL_ACTIVITIES = "local activities (per workflow task)"
TIMER = "timer started"
UPSERT = "search attributes upserted"
SIGNAL = "signal received"
UPDATE = "update accepted"
CHILD_WORKFLOW = "child workflow started"
OPTIONS_UPDATED = "workflow options updated"

_SIMPLE = {
    "TIMER_STARTED": TIMER,
    "WORKFLOW_EXECUTION_SIGNALED": SIGNAL,
    "WORKFLOW_EXECUTION_UPDATE_ACCEPTED": UPDATE,
    "WORKFLOW_EXECUTION_OPTIONS_UPDATED": OPTIONS_UPDATED,
}


@dataclass(frozen=True)
class BillableEvent:
    """An event that costs `actions` billable actions."""

    event_id: int
    time: datetime
    kind: str
    actions: int


@dataclass(frozen=True)
class RunActions:
    """The billable events of one run, in history order."""

    workflow_type: str
    events: tuple[BillableEvent, ...] = field(default_factory=tuple)

    @property
    def total(self) -> int:
        return sum(event.actions for event in self.events)

    def by_kind(self) -> dict[str, int]:
        kinds: Counter[str] = Counter()
        for event in self.events:
            kinds[event.kind] += event.actions
        return dict(kinds)

    def between(self, after_id: int, up_to_id: int) -> int:
        """Actions of the events with `after_id < event_id <= up_to_id`."""
        return sum(e.actions for e in self.events if after_id < e.event_id <= up_to_id)

    def within(self, start: datetime, end: datetime) -> int:
        """Actions of the events written in `[start, end)`."""
        return sum(e.actions for e in self.events if start <= e.time < end)


def _type(event: Mapping[str, Any]) -> str:
    name = event["eventType"]
    if not isinstance(name, str):
        raise ValueError(f"event {event.get('eventId')}: eventType {name!r} is not a name")
    return name.removeprefix(PREFIX)


def _attributes(event: Mapping[str, Any]) -> Mapping[str, Any]:
    for key, value in event.items():
        if key.endswith("EventAttributes"):
            return value  # type: ignore[no-any-return]
    return {}


def _time(event: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(str(event["eventTime"]).replace("Z", "+00:00"))


def _indexed(attributes: Mapping[str, Any]) -> set[str]:
    return set(attributes.get("searchAttributes", {}).get("indexedFields", {}))


def _start_events(events: list[Mapping[str, Any]]) -> Iterable[tuple[Mapping[str, Any], str, int]]:
    """The run's start: its first event, with the kind and the actions it costs."""
    first = events[0]
    attributes = _attributes(first)
    if attributes.get("parentWorkflowExecution"):
        return
    second = _type(events[1]) if len(events) > 1 else ""
    if second == "WORKFLOW_EXECUTION_SIGNALED":
        yield first, SIGNAL_WITH_START, 1
    else:
        yield first, WORKFLOW_STARTED, 1
    if SCHEDULE_ATTRIBUTE in _indexed(attributes):
        yield first, SCHEDULE_RUN, SCHEDULE_EXTRA_ACTIONS


def count_actions(history: Mapping[str, Any]) -> RunActions:
    """The billable actions of the run whose history this is (one run: a continue-as-new chain
    is one history per run)."""
    events: list[Mapping[str, Any]] = list(history["events"])
    if not events or _type(events[0]) != "WORKFLOW_EXECUTION_STARTED":
        raise ValueError("a history starts with WORKFLOW_EXECUTION_STARTED")
    workflow_type = str(_attributes(events[0])["workflowType"]["name"])
    billed: list[BillableEvent] = [
        BillableEvent(int(event["eventId"]), _time(event), kind, actions)
        for event, kind, actions in _start_events(events)
    ]
    signal_with_start_signal = billed[0].kind == SIGNAL_WITH_START if billed else False
    task = 0  # completed workflow tasks so far: a marker belongs to the last one
    tasks_with_local_activities: set[int] = set()
    for position, event in enumerate(events):
        kind, attributes = _type(event), _attributes(event)
        event_id, time = int(event["eventId"]), _time(event)
        if kind == "WORKFLOW_TASK_COMPLETED":
            task += 1
        elif kind == "WORKFLOW_EXECUTION_SIGNALED" and position == 1 and signal_with_start_signal:
            continue  # the signal of a signal-with-start: one action with the start
        elif kind in _SIMPLE:
            billed.append(BillableEvent(event_id, time, _SIMPLE[kind], 1))
        elif kind == "ACTIVITY_TASK_STARTED":
            billed.append(
                BillableEvent(event_id, time, ACTIVITY, int(attributes.get("attempt", 1)))
            )
        elif kind == "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES":
            if _indexed(attributes) - {VERSION_ATTRIBUTE}:
                billed.append(BillableEvent(event_id, time, UPSERT, 1))
        elif kind == "START_CHILD_WORKFLOW_EXECUTION_INITIATED":
            billed.append(BillableEvent(event_id, time, CHILD_WORKFLOW, 2))
        elif kind == "MARKER_RECORDED" and attributes.get("markerName") == LOCAL_ACTIVITY_MARKER:
            if task not in tasks_with_local_activities:
                tasks_with_local_activities.add(task)
                billed.append(BillableEvent(event_id, time, LOCAL_ACTIVITIES, 1))
    return RunActions(workflow_type, tuple(sorted(billed, key=lambda e: e.event_id)))


def activity_scheduled_ids(history: Mapping[str, Any], activity_type: str) -> list[int]:
    """Event ids of the ACTIVITY_TASK_SCHEDULED events of one activity type, in order."""
    return [
        int(event["eventId"])
        for event in history["events"]
        if _type(event) == "ACTIVITY_TASK_SCHEDULED"
        and _attributes(event)["activityType"]["name"] == activity_type
    ]
