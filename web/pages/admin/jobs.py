"""`/admin/jobs`: the scheduled jobs (last and next run, the last recorded outcome, "run now")
and `/admin/reconciliation`: the last reconciliation runs with their mismatches."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import RedirectResponse

from services.administration import jobs, operations
from services.errors import ServiceError
from web.context import ConsoleSettings, Context, DbSession
from web.csrf import check_csrf
from web.pages.admin.access import AdminUser, Workflows, actor, notice, status_of
from web.templates import render

router = APIRouter()
RECONCILIATION_RUNS = 10
MISMATCHES_PER_RUN = 20


async def _jobs_page(
    request: Request,
    session: DbSession,
    settings: ConsoleSettings,
    workflows: Workflows,
    admin: AdminUser,
    *,
    done: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    statuses = []
    try:
        statuses = await jobs.list_jobs(session, settings, workflows)
    except ServiceError as unreachable:
        error, status_code = unreachable.message, status_of(unreachable)
    return render(
        request, "admin_jobs.html", admin,
        {"jobs": statuses, "notice": notice(done), "error": error}, status_code=status_code,
    )  # fmt: skip


@router.get("/admin/jobs")
async def jobs_page(
    request: Request,
    session: DbSession,
    settings: ConsoleSettings,
    workflows: Workflows,
    admin: AdminUser,
    done: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    return await _jobs_page(request, session, settings, workflows, admin, done=done)


@router.post("/admin/jobs/run", dependencies=[Depends(check_csrf)])
async def run_job_now(
    request: Request,
    session: DbSession,
    settings: ConsoleSettings,
    context: Context,
    workflows: Workflows,
    admin: AdminUser,
    job_name: Annotated[str, Form(max_length=64)],
) -> Response:
    try:
        await jobs.run_now(session, workflows, job_name, actor(admin), context)
    except ServiceError as error:
        await session.rollback()
        return await _jobs_page(request, session, settings, workflows, admin,
                                error=error.message, status_code=status_of(error))  # fmt: skip
    await session.commit()
    return RedirectResponse("/admin/jobs?done=job_started", status_code=303)


@router.get("/admin/reconciliation")
async def reconciliation_page(request: Request, session: DbSession, admin: AdminUser) -> Response:
    runs = await operations.reconciliation_runs(
        session, limit=RECONCILIATION_RUNS, mismatches_per_run=MISMATCHES_PER_RUN
    )
    return render(request, "admin_reconciliation.html", admin, {"runs": runs})
