"""The nine background jobs are Temporal Schedules on the server, with their cadences."""

import asyncio
import uuid

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleOverlapPolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from tokenbill.settings import Settings
from worker.registry import JOB_SCHEDULES, WORKFLOWS
from worker.schedules import ensure_schedules

SEED_JOBS = {
    "processSubscriptionBilling": "0 * * * *",
    "checkAutoTopupTriggers": "*/30 * * * *",
    "checkLowBalanceThresholds": "*/15 * * * *",
    "updateUsageForecasts": "0 0 * * *",
    "sendSubscriptionRenewalReminders": "0 8 * * *",
    "cleanupExpiredTokens": "0 2 * * *",
    "reconcileWalletBalances": "0 3 * * *",
    "generateMonthlyReports": "0 0 1 * *",
    "cleanupOldAuditLogs": "0 0 * * 0",
}


async def as_the_server_keeps_it(client: Client, cron: str) -> ScheduleSpec:
    """The server turns cron text into calendars: a paused probe schedule shows how."""
    probe = await client.create_schedule(
        f"probe-{uuid.uuid4().hex}",
        Schedule(
            action=ScheduleActionStartWorkflow("Probe", id="probe", task_queue="probe"),
            spec=ScheduleSpec(cron_expressions=[cron]),
            state=ScheduleState(paused=True),
        ),
    )
    try:
        return (await probe.describe()).schedule.spec
    finally:
        await probe.delete()


def test_the_registry_holds_the_nine_seed_jobs_with_their_cadences() -> None:
    registered = {job.name: job.cron for job in JOB_SCHEDULES}

    assert {name: registered.get(name) for name in SEED_JOBS} == SEED_JOBS


def test_no_two_jobs_share_a_schedule_id() -> None:
    names = [job.name for job in JOB_SCHEDULES]

    assert len(names) == len(set(names))


def test_every_registered_job_starts_a_workflow_the_worker_runs() -> None:
    served = {getattr(w, "__temporal_workflow_definition").name for w in WORKFLOWS}

    assert {job.workflow for job in JOB_SCHEDULES} <= served


async def test_worker_start_creates_each_schedule_with_its_cadence_and_overlap_skip(
    temporal_client: Client, settings: Settings
) -> None:
    await ensure_schedules(temporal_client, settings)
    await ensure_schedules(temporal_client, settings)  # a second start updates, never duplicates

    for job in JOB_SCHEDULES:
        described = await temporal_client.get_schedule_handle(job.name).describe()
        schedule = described.schedule
        action = schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert (action.workflow, action.task_queue) == (job.workflow, settings.temporal_task_queue)
        assert schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        expected = await as_the_server_keeps_it(temporal_client, SEED_JOBS.get(job.name, job.cron))
        assert schedule.spec == expected, job.name


def paused_by_an_operator(current: ScheduleUpdateInput) -> ScheduleUpdate:
    """An operator's pause, written into the schedule's definition as the Web UI's edit does."""
    schedule = current.description.schedule
    schedule.state = ScheduleState(paused=True, note="paused by an operator")
    return ScheduleUpdate(schedule=schedule)


async def test_cadence_override_setting_changes_the_schedule_and_keeps_a_pause(
    temporal_client: Client, settings: Settings
) -> None:
    await ensure_schedules(temporal_client, settings)
    handle = temporal_client.get_schedule_handle("reconcileWalletBalances")
    await handle.update(paused_by_an_operator)
    for _ in range(100):
        if (await handle.describe()).schedule.state.paused:
            break
        await asyncio.sleep(0.05)
    overridden = settings.model_copy(
        update={"job_schedules": {"reconcileWalletBalances": "30 4 * * *"}}
    )
    try:
        await ensure_schedules(temporal_client, overridden)
        described = await handle.describe()
        assert described.schedule.spec == await as_the_server_keeps_it(
            temporal_client, "30 4 * * *"
        )
        assert described.schedule.state.paused
    finally:
        await handle.unpause()
        await ensure_schedules(temporal_client, settings)
