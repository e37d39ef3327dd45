"""The scheduled jobs as admins see them in the console: each Temporal Schedule with its last and
next run and its last recorded outcome, and "run now" (audited). The Temporal side is
tokenbill.job_commands' (the same as `tokenbill jobs list` and `tokenbill jobs run`), reached
through the application's one workflow client."""

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from db.audit import Actor, RequestContext
from services import audit
from services.errors import conflict, invalid, unavailable
from tokenbill.job_commands import (
    JobCommandError,
    JobStatus,
    find_job,
    job_statuses,
    run_job_now,
)
from tokenbill.settings import Settings
from tokenbill.workflow_client import WorkflowClient, WorkflowUnavailable


async def _temporal(workflows: WorkflowClient) -> Client:
    try:
        return await workflows.client()
    except WorkflowUnavailable as exc:
        raise unavailable("temporal_unavailable", f"Temporal is not reachable: {exc}") from exc


async def list_jobs(
    session: AsyncSession, settings: Settings, workflows: WorkflowClient
) -> list[JobStatus]:
    """Every registered job: its schedule's state, last and next run, and last recorded run."""
    client = await _temporal(workflows)
    try:
        return await job_statuses(client, session, settings)
    except Exception as exc:  # the SDK raises RPCError or RuntimeError from its core
        raise unavailable("temporal_unavailable", f"Temporal did not answer: {exc}") from exc


async def run_now(
    session: AsyncSession,
    workflows: WorkflowClient,
    job_name: str,
    actor: Actor,
    context: RequestContext,
) -> str:
    """Trigger the job's schedule now and audit it (the caller commits); the id of the run it
    started."""
    try:
        job = find_job(job_name)
    except JobCommandError as exc:
        raise invalid("unknown_job", str(exc)) from exc
    client = await _temporal(workflows)
    try:
        workflow_id, _ = await run_job_now(client, job.name, wait=False)
    except JobCommandError as exc:
        raise conflict("job_not_started", str(exc)) from exc
    except Exception as exc:  # the SDK raises RPCError or RuntimeError from its core
        raise unavailable("temporal_unavailable", f"Temporal did not answer: {exc}") from exc
    await audit.record(
        session, actor, "job.run_now", audit.Target("job", job.name), None,
        {"workflow_id": workflow_id}, context,
    )  # fmt: skip
    return workflow_id
