"""The Temporal actions the platform spends whatever its population: the worker's job Schedules
(worker/registry.py), each run costing the schedule's 2 actions plus its workflow's own, counted
on the job's recorded history (tests/workflows/histories/, small test data: a lower bound where a
job's activities grow with the number of wallets)."""

import json
from dataclasses import dataclass
from pathlib import Path

from capacity.actions import SCHEDULE_EXTRA_ACTIONS, count_actions

DAYS_PER_MONTH = 30
HISTORIES = Path(__file__).resolve().parent.parent / "tests" / "workflows" / "histories"


@dataclass(frozen=True)
class Job:
    name: str
    workflow: str
    cron: str


@dataclass(frozen=True)
class JobCost:
    name: str
    runs_per_month: float
    actions_per_run: int

    @property
    def actions_per_month(self) -> float:
        return self.runs_per_month * self.actions_per_run


def _matches(field: str, low: int, high: int) -> int:
    """How many values of [low, high] a cron field of `*`, `*/n` or one number takes."""
    if field == "*":
        return high - low + 1
    if field.startswith("*/"):
        return len(range(low, high + 1, int(field[2:])))
    if field.isdigit():
        return 1
    raise ValueError(f"cron field {field!r}: only *, */n and a number are understood")


def runs_per_month(cron: str) -> float:
    """Runs of a five-field cron in a 30-day month (a weekday is 30/7 days of it)."""
    minute, hour, day_of_month, month, day_of_week = cron.split()
    per_day = _matches(minute, 0, 59) * _matches(hour, 0, 23)
    if month != "*":
        raise ValueError(f"{cron}: a month field is not understood")
    if day_of_month != "*":
        return float(per_day * _matches(day_of_month, 1, DAYS_PER_MONTH))
    if day_of_week != "*":
        return per_day * _matches(day_of_week, 0, 6) * DAYS_PER_MONTH / 7
    return float(per_day * DAYS_PER_MONTH)


def recorded_actions(workflow_type: str, histories: Path = HISTORIES) -> int:
    """Actions of the newest recorded run of `workflow_type`, as a schedule's run (+2)."""
    for path in sorted(histories.glob("*-0.json")):
        history = json.loads(path.read_text())
        counted = count_actions(history)
        if counted.workflow_type == workflow_type:
            return counted.total + SCHEDULE_EXTRA_ACTIONS
    raise LookupError(f"no recorded history of {workflow_type} under {histories}")


def job_costs(jobs: list[Job], histories: Path = HISTORIES) -> list[JobCost]:
    return [
        JobCost(job.name, runs_per_month(job.cron), recorded_actions(job.workflow, histories))
        for job in jobs
    ]
