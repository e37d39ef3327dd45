"""reconcileProviderPayments: the provider reconciliation as a scheduled job, kept only when
PAYMENT_GATEWAY=stripe (the seed jobs and their count do not change), run on Temporal against the
Stripe stand-in: a reconciliation run and a job run recorded; refused without Stripe."""

import uuid
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import Worker

from activities.job_runs import JobRunActivities
from activities.payments.provider_reconciliation import ProviderReconciliationActivities
from tests.jobs.conftest import Maker, run_job
from tokenbill import job_commands
from tokenbill.devstack.stripe_standin.server import StandinServer
from tokenbill.settings import Settings
from worker.registry import JOB_SCHEDULES, WORKFLOWS, job_schedules
from workflows.job_types import JobResult
from workflows.provider_reconciliation import ReconcileProviderPaymentsWorkflow
from workflows.provider_reconciliation_types import (
    RECONCILE_PROVIDER_PAYMENTS_JOB,
    RECONCILE_PROVIDER_PAYMENTS_WORKFLOW,
)

KEY = "sk_test_provider_job"


@pytest.fixture(scope="module")
def own_standin() -> Iterator[StandinServer]:
    with StandinServer(KEY) as server:
        yield server


def _stripe(settings: Settings, standin: StandinServer) -> Settings:
    return settings.model_copy(
        update={"payment_gateway": "stripe", "stripe_secret_key": SecretStr(KEY),
                "stripe_api_base": standin.url}
    )  # fmt: skip


def test_the_provider_job_is_kept_only_with_stripe(
    settings: Settings, own_standin: StandinServer
) -> None:
    sandbox = settings.model_copy(update={"payment_gateway": "sandbox"})
    assert job_schedules(sandbox) == JOB_SCHEDULES
    assert [job.name for job in job_commands.registered_jobs()] == [j.name for j in JOB_SCHEDULES]
    with_stripe = [job.name for job in job_schedules(_stripe(settings, own_standin))]
    assert with_stripe == [*(j.name for j in JOB_SCHEDULES), RECONCILE_PROVIDER_PAYMENTS_JOB]
    served = {getattr(w, "__temporal_workflow_definition").name for w in WORKFLOWS}
    assert RECONCILE_PROVIDER_PAYMENTS_WORKFLOW in served
    assert job_commands.find_job(RECONCILE_PROVIDER_PAYMENTS_JOB).cron == "30 4 * * *"


async def _worker_run(
    client: Client, settings: Settings, session_maker: Maker, history: str | None = None
) -> JobResult:
    queue = f"provider-reconciliation-{uuid.uuid4().hex}"
    async with Worker(
        client, task_queue=queue, workflows=[ReconcileProviderPaymentsWorkflow],
        activities=[*JobRunActivities(session_maker).definitions(),
                    *ProviderReconciliationActivities(session_maker, settings).definitions()],
    ):  # fmt: skip
        return await run_job(client, queue, RECONCILE_PROVIDER_PAYMENTS_WORKFLOW, history=history)


async def test_the_job_records_a_reconciliation_run_and_its_job_run(
    temporal_client: Client, settings: Settings, session_maker: Maker, own_standin: StandinServer
) -> None:
    result = await _worker_run(
        temporal_client, _stripe(settings, own_standin), session_maker,
        history="reconcile-provider-payments",
    )  # fmt: skip
    assert result.status == "succeeded"
    counts = result.counts
    async with session_maker() as session:
        run = (
            await session.execute(
                text("SELECT workflow_id, status FROM reconciliation_runs WHERE id = :i"),
                {"i": counts.details["run_id"]},
            )
        ).one()
        job_run = (
            await session.execute(
                text("SELECT job_name, status FROM job_runs WHERE id = :i"),
                {"i": result.job_run_id},
            )
        ).one()
    assert run.workflow_id.startswith("test-ReconcileProviderPaymentsWorkflow-")
    assert tuple(job_run) == (RECONCILE_PROVIDER_PAYMENTS_JOB, "succeeded")
    assert counts.failed == counts.details["mismatches"]


async def test_the_job_is_refused_without_stripe_and_its_run_recorded_failed(
    temporal_client: Client, settings: Settings, session_maker: Maker
) -> None:
    sandbox = settings.model_copy(update={"payment_gateway": "sandbox"})
    with pytest.raises(WorkflowFailureError):
        await _worker_run(temporal_client, sandbox, session_maker)
    async with session_maker() as session:
        status = await session.scalar(
            text(
                "SELECT status FROM job_runs WHERE job_name = :j AND error LIKE '%not stripe%' "
                "ORDER BY id DESC LIMIT 1"
            ),
            {"j": RECONCILE_PROVIDER_PAYMENTS_JOB},
        )
    assert status == "failed"
