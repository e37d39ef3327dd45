"""`tokenbill jobs list` and `tokenbill jobs run NAME`: the scheduled jobs as Temporal Schedules,
with their last and next run (Temporal) and the last run's outcome and counts (job_runs)."""

import asyncio
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow, ScheduleDescription
from temporalio.service import RPCError, RPCStatusCode

from db.job_runs import JobRunRecord, latest_job_runs
from tokenbill.settings import Settings
from tokenbill.temporal_connect import connect_temporal
from worker.registry import ALL_JOB_SCHEDULES, JobSchedule, job_schedules
from workflows.job_types import JobResult

START_WAIT_SECONDS = 30.0
POLL_SECONDS = 0.25


class JobCommandError(Exception):
    """A failure of a jobs command, said in one line."""


@dataclass(frozen=True)
class JobStatus:
    job: JobSchedule
    cron: str
    created: bool
    paused: bool
    note: str
    last_started: datetime | None
    next_run: datetime | None
    last_run: JobRunRecord | None


def registered_jobs(settings: Settings | None = None) -> list[JobSchedule]:
    """Every job the worker keeps as a schedule (with these settings: the provider's job too
    when PAYMENT_GATEWAY=stripe)."""
    return list(job_schedules(settings))


def find_job(name: str) -> JobSchedule:
    jobs = list(ALL_JOB_SCHEDULES)
    for job in jobs:
        if job.name == name:
            return job
    known = ", ".join(sorted(job.name for job in jobs))
    raise JobCommandError(f"no job is named {name!r}; the jobs are: {known}")


async def connect(settings: Settings) -> Client:
    address = settings.temporal_address or f"localhost:{settings.dev_temporal_port}"
    try:
        return await connect_temporal(settings, address=address)
    except RuntimeError as exc:
        raise JobCommandError(f"cannot reach Temporal at {address}: {exc}") from exc


async def _describe(client: Client, name: str) -> ScheduleDescription | None:
    try:
        return await client.get_schedule_handle(name).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def job_statuses(
    client: Client, session: AsyncSession | None, settings: Settings
) -> list[JobStatus]:
    last_runs = await latest_job_runs(session) if session is not None else {}
    statuses: list[JobStatus] = []
    for job in registered_jobs(settings):
        description = await _describe(client, job.name)
        cron = settings.job_schedules.get(job.name, job.cron)
        if description is None:
            statuses.append(
                JobStatus(job, cron, False, False, "", None, None, last_runs.get(job.name))
            )
            continue
        info = description.info
        recent = info.recent_actions[-1].started_at if info.recent_actions else None
        upcoming = info.next_action_times[0] if info.next_action_times else None
        state = description.schedule.state
        statuses.append(
            JobStatus(job, cron, True, state.paused, state.note or "", recent, upcoming,
                      last_runs.get(job.name))
        )  # fmt: skip
    return statuses


async def _action_ids(client: Client, name: str) -> set[str]:
    description = await _describe(client, name)
    if description is None:
        raise JobCommandError(f"the schedule {name} does not exist yet: start the worker first")
    info = description.info
    executions = [*info.running_actions, *(a.action for a in info.recent_actions)]
    return {
        e.workflow_id for e in executions if isinstance(e, ScheduleActionExecutionStartWorkflow)
    }


async def run_job_now(client: Client, name: str, *, wait: bool) -> tuple[str, JobResult | None]:
    """Trigger the job's schedule now; with wait, follow the run it started to its result."""
    job = find_job(name)
    before = await _action_ids(client, job.name)
    handle = client.get_schedule_handle(job.name)
    await handle.trigger()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_WAIT_SECONDS
    while True:
        started = (await _action_ids(client, job.name)) - before
        if started:
            workflow_id = sorted(started)[-1]
            break
        if loop.time() > deadline:
            raise JobCommandError(
                f"{job.name} did not start (a run already in progress is skipped, or the "
                "schedule is paused)"
            )
        await asyncio.sleep(POLL_SECONDS)
    if not wait:
        return workflow_id, None
    handle_of_run = client.get_workflow_handle(workflow_id, result_type=JobResult)
    result = await handle_of_run.result()
    return workflow_id, result
