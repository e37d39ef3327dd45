"""Operations, for admins: the last reconciliation runs with their mismatches, and job runs."""

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth.dependencies import Admin
from api.deps import Session
from api.schemas.common import AUTH_ERRORS
from api.schemas.operations import (
    JobRunOut,
    JobRunsOut,
    MismatchOut,
    ReconciliationRunOut,
    ReconciliationRunsOut,
)
from db.job_runs import job_runs_of, latest_job_runs
from db.reconciliation import latest_reconciliation_runs

router = APIRouter(prefix="/admin", tags=["admin"], responses=AUTH_ERRORS)


@router.get(
    "/reconciliation",
    summary="List the last reconciliation runs",
    description="Requires the admin role. Newest first; each run with its counts and its first "
    "`mismatches_per_run` mismatches (a wallet's cached balance against the sum of its entries "
    "or of its lots' remainders, or a transaction whose entries do not sum to zero). "
    "Reconciliation reports; it never corrects.",
)
async def list_reconciliation_runs(
    principal: Admin,
    session: Session,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    mismatches_per_run: Annotated[int, Query(ge=0, le=1000)] = 100,
) -> ReconciliationRunsOut:
    runs = await latest_reconciliation_runs(
        session, limit=limit, mismatches_per_run=mismatches_per_run
    )
    return ReconciliationRunsOut(
        items=[
            ReconciliationRunOut(
                id=run.id,
                workflow_id=run.workflow_id,
                status=run.status,
                started_at=run.started_at,
                finished_at=run.finished_at,
                wallets_checked=run.wallets_checked,
                transactions_checked=run.transactions_checked,
                mismatch_count=run.mismatch_count,
                mismatches=[MismatchOut(**m.__dict__) for m in run.mismatches],
            )
            for run in runs
        ]
    )


@router.get(
    "/jobs",
    summary="List scheduled job runs",
    description="Requires the admin role. Without `job_name`, each job's latest run; with it, "
    "that job's last `limit` runs, newest first, with counts (seen, changed, failed).",
)
async def list_job_runs(
    principal: Admin,
    session: Session,
    job_name: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> JobRunsOut:
    if job_name is None:
        runs = sorted((await latest_job_runs(session)).values(), key=lambda r: r.job_name)
    else:
        runs = await job_runs_of(session, job_name, limit=limit)
    return JobRunsOut(items=[JobRunOut(**run.__dict__) for run in runs])
