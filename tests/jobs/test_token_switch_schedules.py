"""ENABLE_TOKEN_SYSTEM=false pauses the jobs that move money or tokens (issue 9, edge 8): the
worker pauses their schedules with a note that says why, `tokenbill jobs list` shows it, and the
worker unpauses them, and only them, when it starts with the switch on again."""

from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client, ScheduleState, ScheduleUpdate, ScheduleUpdateInput

from tests.jobs.test_jobs_cli import tokenbill
from tokenbill.settings import Settings
from worker.registry import JOB_SCHEDULES
from worker.schedules import ensure_schedules

MONEY_JOBS = {
    "processSubscriptionBilling",
    "resumePendingPurchases",
    "checkAutoTopupTriggers",
    "cleanupExpiredTokens",
}
OPERATOR_NOTE = "paused by an operator"


def paused_by_an_operator(current: ScheduleUpdateInput) -> ScheduleUpdate:
    schedule = current.description.schedule
    schedule.state = ScheduleState(paused=True, note=OPERATOR_NOTE)
    return ScheduleUpdate(schedule=schedule)


async def states(client: Client) -> dict[str, ScheduleState]:
    return {
        job.name: (await client.get_schedule_handle(job.name).describe()).schedule.state
        for job in JOB_SCHEDULES
    }


@pytest.fixture
async def switch_back_on(temporal_client: Client, settings: Settings) -> AsyncIterator[None]:
    """Whatever happens, the schedules end as a worker with the switch on leaves them."""
    try:
        yield
    finally:
        await ensure_schedules(temporal_client, settings)
        await temporal_client.get_schedule_handle("cleanupExpiredTokens").unpause()


@pytest.mark.usefixtures("switch_back_on")
async def test_a_switched_off_worker_pauses_the_jobs_that_move_money_and_jobs_list_says_why(
    temporal_client: Client, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ensure_schedules(temporal_client, settings)
    await temporal_client.get_schedule_handle("cleanupExpiredTokens").update(paused_by_an_operator)
    off = settings.model_copy(update={"enable_token_system": False})

    await ensure_schedules(temporal_client, off)
    switched_off = await states(temporal_client)
    monkeypatch.setenv("ENABLE_TOKEN_SYSTEM", "false")
    listed = await tokenbill(settings, "jobs", "list")
    await ensure_schedules(temporal_client, settings)
    switched_on = await states(temporal_client)

    assert {name for name, state in switched_off.items() if state.paused} == MONEY_JOBS
    for name in MONEY_JOBS - {"cleanupExpiredTokens"}:
        assert "ENABLE_TOKEN_SYSTEM=false" in (switched_off[name].note or ""), name
    assert switched_off["cleanupExpiredTokens"].note == OPERATOR_NOTE
    assert "ENABLE_TOKEN_SYSTEM=false" in listed.splitlines()[0]
    rows = {line.split()[0]: line for line in listed.splitlines()[2:]}
    assert "paused" in rows["processSubscriptionBilling"]
    assert "Paused by the worker: ENABLE_TOKEN_SYSTEM=false" in rows["processSubscriptionBilling"]
    assert "active" in rows["reconcileWalletBalances"]
    assert {name for name, state in switched_on.items() if state.paused} == {"cleanupExpiredTokens"}
    assert switched_on["cleanupExpiredTokens"].note == OPERATOR_NOTE
