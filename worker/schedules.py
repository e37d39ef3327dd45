"""The background jobs as Temporal Schedules: created or updated idempotently at worker start.

Each entry names the seed's job, the workflow it starts and its default cadence; the JOB_SCHEDULES
setting (a JSON object of job name to cron expression) overrides cadences.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from tokenbill.settings import Settings

logger = logging.getLogger("tokenbill.schedules")


@dataclass(frozen=True)
class JobSchedule:
    """One of the seed's background jobs."""

    name: str
    workflow: str
    cron: str
    description: str


JOB_SCHEDULES: list[JobSchedule] = []


def register(job: JobSchedule) -> JobSchedule:
    """Add a job to the registry (each feature module registers its own jobs)."""
    if any(existing.name == job.name for existing in JOB_SCHEDULES):
        raise ValueError(f"job {job.name} is registered twice")
    JOB_SCHEDULES.append(job)
    return job


def job_workflow_id(job: JobSchedule) -> str:
    return f"job-{job.name}"


def _schedule(job: JobSchedule, settings: Settings) -> Schedule:
    cron = settings.job_schedules.get(job.name, job.cron)
    return Schedule(
        action=ScheduleActionStartWorkflow(
            job.workflow, id=job_workflow_id(job), task_queue=settings.temporal_task_queue
        ),
        spec=ScheduleSpec(cron_expressions=[cron]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


def _keeping_state(wanted: Schedule) -> Callable[[ScheduleUpdateInput], ScheduleUpdate]:
    """Replace action, spec and policy, but keep what operators set in the UI (paused, notes)."""

    def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
        wanted.state = current.description.schedule.state
        return ScheduleUpdate(schedule=wanted)

    return update


async def ensure_schedules(client: Client, settings: Settings) -> list[str]:
    """Create each registered job's schedule, or bring an existing one to the current spec."""
    names: list[str] = []
    for job in JOB_SCHEDULES:
        schedule = _schedule(job, settings)
        try:
            await client.create_schedule(job.name, schedule)
            logger.info("schedule %s created", job.name)
        except ScheduleAlreadyRunningError:
            await client.get_schedule_handle(job.name).update(_keeping_state(schedule))
            logger.info("schedule %s updated", job.name)
        names.append(job.name)
    return names
