"""The background jobs as Temporal Schedules: created or updated idempotently at worker start.

The jobs are those worker.registry lists; the JOB_SCHEDULES setting (a JSON object of job name
to cron expression) overrides their cadences.

With ENABLE_TOKEN_SYSTEM=false the worker pauses the schedules of the jobs that move money or
tokens, with a note that says why (`tokenbill jobs list` shows it); with the switch on again it
unpauses those it paused, and only those: an operator's pause stays.
"""

import logging
from collections.abc import Callable

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from tokenbill.settings import Settings
from worker.registry import PROVIDER_JOB_SCHEDULES, JobSchedule, job_schedules

logger = logging.getLogger("tokenbill.schedules")
SWITCHED_OFF_NOTE = (
    "Paused by the worker: ENABLE_TOKEN_SYSTEM=false, so jobs that move money or tokens do not "
    "run. The worker unpauses it when it starts with the switch on."
)


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
        state=_switched(job, settings, ScheduleState()),
    )


def _switched(job: JobSchedule, settings: Settings, state: ScheduleState) -> ScheduleState:
    """The state the token switch asks of the job's schedule, from the state it has."""
    if not job.moves_money:
        return state
    if not settings.enable_token_system and not state.paused:
        return ScheduleState(paused=True, note=SWITCHED_OFF_NOTE)
    if settings.enable_token_system and state.paused and state.note == SWITCHED_OFF_NOTE:
        return ScheduleState(paused=False)
    return state


def _keeping_state(
    job: JobSchedule, wanted: Schedule, settings: Settings
) -> Callable[[ScheduleUpdateInput], ScheduleUpdate]:
    """Replace action, spec and policy, but keep what operators set in the UI (paused, notes);
    only the token switch's own pause comes and goes with the switch."""

    def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
        wanted.state = _switched(job, settings, current.description.schedule.state)
        return ScheduleUpdate(schedule=wanted)

    return update


async def ensure_schedules(client: Client, settings: Settings) -> list[str]:
    """Create each listed job's schedule, or bring an existing one to the current spec."""
    names: list[str] = []
    wanted = job_schedules(settings)
    for job in PROVIDER_JOB_SCHEDULES:
        if job not in wanted:
            await _drop(client, job.name)
    for job in wanted:
        schedule = _schedule(job, settings)
        try:
            await client.create_schedule(job.name, schedule)
            logger.info("schedule %s created", job.name)
        except ScheduleAlreadyRunningError:
            await client.get_schedule_handle(job.name).update(
                _keeping_state(job, schedule, settings)
            )
            logger.info("schedule %s updated", job.name)
        names.append(job.name)
    return names


async def _drop(client: Client, name: str) -> None:
    """A job these settings do not keep (the provider's without Stripe): its schedule deleted."""
    try:
        await client.get_schedule_handle(name).delete()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        return
    logger.info("schedule %s deleted (not kept with these settings)", name)
