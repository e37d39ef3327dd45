"""`tokenbill jobs list` and `tokenbill jobs run NAME --wait` against the dev server."""

import asyncio
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import text
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow
from temporalio.service import RPCError, RPCStatusCode

from db.session import create_engine, create_session_maker
from tests.jobs.conftest import Maker, credit
from tokenbill import cli, job_commands
from tokenbill.devstack.databases import drop_database, recreate_database
from tokenbill.settings import Settings
from worker.main import build_worker
from worker.schedules import ensure_schedules
from workflows.job_types import JobResult
from workflows.outbox_types import OUTBOX_RELAY_WORKFLOW_ID

TOKENBILL = str(Path(sys.executable).parent / "tokenbill")
EVERY_JOB_DATABASE = "tokenbill_every_job_test"


@pytest.fixture
async def schedules_on_the_jobs_queue(
    temporal_client: Client, settings: Settings, jobs_settings: Settings, jobs_queue: str
) -> AsyncIterator[None]:
    """The schedules start their workflows on the queue this suite's worker serves."""
    await ensure_schedules(temporal_client, jobs_settings)
    yield
    await ensure_schedules(temporal_client, settings)


@pytest.fixture
async def every_job_on_a_database_of_its_own(
    temporal_client: Client, settings: Settings, database_url: str
) -> AsyncIterator[tuple[Settings, Maker]]:
    """Every workflow and activity on a queue of its own over an empty migrated database, so the
    safety nets restart nobody else's subscriptions or purchases; the schedules start their
    workflows there."""
    url = recreate_database(database_url, EVERY_JOB_DATABASE)
    own = settings.model_copy(
        update={"database_url": url, "temporal_task_queue": f"every-job-{uuid.uuid4().hex}"}
    )
    await tokenbill(own, "migrate")
    engine = create_engine(own)
    session_maker = create_session_maker(engine)
    try:
        async with build_worker(temporal_client, own, session_maker):
            await ensure_schedules(temporal_client, own)
            await end_stranded_runs(temporal_client)
            try:
                yield own, session_maker
            finally:
                await ensure_schedules(temporal_client, settings)
    finally:
        await engine.dispose()
        drop_database(database_url, EVERY_JOB_DATABASE)


async def end_stranded_runs(client: Client) -> None:
    """A schedule that fired while an earlier test pointed it at a queue no worker serves for that
    workflow left a run that never ends, and the overlap policy skips every run after it."""
    for job in job_commands.registered_jobs():
        description = await client.get_schedule_handle(job.name).describe()
        for action in description.info.running_actions:
            if isinstance(action, ScheduleActionExecutionStartWorkflow):
                try:
                    await client.get_workflow_handle(action.workflow_id).terminate("stranded")
                except RPCError as exc:
                    if exc.status != RPCStatusCode.NOT_FOUND:
                        raise


async def tokenbill(settings: Settings, *args: str, expect: int = 0) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "TEMPORAL"))}
    env.update(
        DATABASE_URL=str(settings.database_url),
        TEMPORAL_ADDRESS=str(settings.temporal_address),
        LOG_LEVEL="WARNING",
    )
    process = await asyncio.create_subprocess_exec(
        TOKENBILL, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    if expect >= 0:  # -1: any status (the caller reads the output)
        assert process.returncode == expect, (out.decode(), err.decode())
    return out.decode() + err.decode()


async def run_job(settings: Settings, name: str) -> str:
    """`tokenbill jobs run NAME --wait`; expireHolds runs every minute, so its own tick can be in
    progress when the command triggers it (the overlap policy skips the trigger): run it again."""
    for _ in range(3):
        said = await tokenbill(settings, "jobs", "run", name, "--wait", expect=-1)
        if "a run already in progress is skipped" not in said:
            return said
        await asyncio.sleep(1)
    return said


@pytest.mark.usefixtures("schedules_on_the_jobs_queue")
async def test_jobs_run_starts_the_job_through_its_schedule_and_list_shows_the_run(
    jobs_settings: Settings, session_maker: Maker, make_organization: Callable[[], Awaitable[int]]
) -> None:
    await credit(session_maker, await make_organization(), "10")

    ran = await tokenbill(jobs_settings, "jobs", "run", "reconcileWalletBalances", "--wait")
    listed = await tokenbill(jobs_settings, "jobs", "list")

    assert "started reconcileWalletBalances as workflow job-reconcileWalletBalances-" in ran
    assert re.search(r"succeeded: seen=[1-9]", ran), ran
    rows = {line.split()[0]: line for line in listed.splitlines()[1:]}
    assert {
        "processSubscriptionBilling",
        "checkAutoTopupTriggers",
        "checkLowBalanceThresholds",
        "updateUsageForecasts",
        "sendSubscriptionRenewalReminders",
        "cleanupExpiredTokens",
        "reconcileWalletBalances",
        "generateMonthlyReports",
        "cleanupOldAuditLogs",
    } <= set(rows)
    assert "0 3 * * *" in rows["reconcileWalletBalances"]
    assert "succeeded seen=" in rows["reconcileWalletBalances"]
    assert "active" in rows["reconcileWalletBalances"]


async def test_jobs_run_of_an_unknown_job_names_the_known_ones(jobs_settings: Settings) -> None:
    said = await tokenbill(jobs_settings, "jobs", "run", "noSuchJob", expect=1)

    assert "no job is named 'noSuchJob'" in said
    assert "cleanupExpiredTokens" in said


async def test_each_of_the_eleven_scheduled_jobs_runs_to_a_succeeded_result_and_a_job_run(
    temporal_client: Client, every_job_on_a_database_of_its_own: tuple[Settings, Maker]
) -> None:
    own, session_maker = every_job_on_a_database_of_its_own
    async with session_maker() as session, session.begin():
        organization_id = await session.scalar(
            text("INSERT INTO organizations (name) VALUES ('Every Job') RETURNING id")
        )
    assert organization_id is not None
    await credit(session_maker, organization_id, "10")
    names = [job.name for job in job_commands.registered_jobs()]

    outputs = await asyncio.gather(*(run_job(own, name) for name in names))
    said = dict(zip(names, outputs, strict=True))
    if "relay_woken=1" in said["checkLowBalanceThresholds"]:
        await temporal_client.get_workflow_handle(OUTBOX_RELAY_WORKFLOW_ID).terminate("test")
    started = {
        name: re.findall(r"^started \S+ as workflow (\S+)$", said[name], re.M) for name in names
    }
    async with session_maker() as session:
        runs = {
            run.workflow_id: run
            for run in await session.execute(
                text("SELECT workflow_id, job_name, status, seen, changed, failed FROM job_runs")
            )
        }

    assert len(names) == 11
    for name in names:
        [workflow_id] = started[name]
        run = runs[workflow_id]
        result = f"succeeded: seen={run.seen} changed={run.changed} failed=0"
        assert (run.job_name, run.status, run.failed) == (name, "succeeded", 0)
        assert result in said[name], said[name]
    wallet_jobs = [
        "checkLowBalanceThresholds", "checkAutoTopupTriggers", "updateUsageForecasts",
        "reconcileWalletBalances",
    ]  # fmt: skip
    assert [runs[started[name][0]].seen for name in wallet_jobs] == [1, 1, 1, 1]


def test_jobs_run_names_a_result_it_cannot_read_as_such_not_as_invalid_settings(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def connect(_: Settings) -> Client:
        return cast(Client, object())

    async def run_job_now(_: Client, name: str, *, wait: bool) -> tuple[str, JobResult | None]:
        return f"job-{name}", JobResult.model_validate({"seen": 1})

    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    monkeypatch.setattr(cli, "configure_logging", lambda level: None)
    monkeypatch.setattr(job_commands, "connect", connect)
    monkeypatch.setattr(job_commands, "run_job_now", run_job_now)

    status = cli.main(["jobs", "run", "checkLowBalanceThresholds", "--wait"])

    said = capsys.readouterr().err
    assert status == 1
    assert "tokenbill: error: unexpected JobResult: job_name: Field required" in said
    assert "invalid settings" not in said
