"""`tokenbill jobs list` and `tokenbill jobs run NAME --wait` against the dev server."""

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from temporalio.client import Client

from tests.jobs.conftest import Maker, credit
from tokenbill.settings import Settings
from worker.schedules import ensure_schedules

TOKENBILL = str(Path(sys.executable).parent / "tokenbill")


@pytest.fixture
async def schedules_on_the_jobs_queue(
    temporal_client: Client, settings: Settings, jobs_settings: Settings, jobs_queue: str
) -> AsyncIterator[None]:
    """The schedules start their workflows on the queue this suite's worker serves."""
    await ensure_schedules(temporal_client, jobs_settings)
    yield
    await ensure_schedules(temporal_client, settings)


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
    assert process.returncode == expect, (out.decode(), err.decode())
    return out.decode() + err.decode()


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
