"""Operations, for admins: the last reconciliation runs with their mismatches, and job runs."""

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth.dependencies import Admin
from api.deps import Session
from api.schemas.common import AUTH_ERRORS
from api.schemas.operations import (
    JobRunOut,
    JobRunsOut,
    ReconciliationRunOut,
    ReconciliationRunsOut,
)
from services.administration import operations

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
    runs = await operations.reconciliation_runs(
        session, limit=limit, mismatches_per_run=mismatches_per_run
    )
    return ReconciliationRunsOut(items=[ReconciliationRunOut.model_validate(r) for r in runs])


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
    runs = await operations.job_runs(session, job_name, limit=limit)
    return JobRunsOut(items=[JobRunOut.model_validate(r) for r in runs])
