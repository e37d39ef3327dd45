"""The job_runs table: one row per scheduled job run, with its counts and outcome."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import JobRun


@dataclass(frozen=True)
class JobRunRecord:
    id: int
    job_name: str
    workflow_id: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    seen: int
    changed: int
    failed: int
    details: dict[str, Any]
    error: str | None


async def start_job_run(session: AsyncSession, *, job_name: str, workflow_id: str) -> int:
    """The run's id; a retried start finds the row its workflow id already made."""
    claim = insert(JobRun).values(job_name=job_name, workflow_id=workflow_id)
    run_id = await session.scalar(
        claim.on_conflict_do_update(
            index_elements=[JobRun.workflow_id], set_={"job_name": claim.excluded.job_name}
        ).returning(JobRun.id)
    )
    assert run_id is not None
    return int(run_id)


async def finish_job_run(
    session: AsyncSession,
    *,
    job_run_id: int,
    status: str,
    seen: int,
    changed: int,
    failed: int,
    details: dict[str, int],
    error: str | None,
) -> None:
    await session.execute(
        update(JobRun)
        .where(JobRun.id == job_run_id)
        .values(
            status=status,
            finished_at=func.now(),
            seen=seen,
            changed=changed,
            failed=failed,
            details=details,
            error=error,
        )
    )


RUN_COLUMNS = (
    JobRun.id, JobRun.job_name, JobRun.workflow_id, JobRun.status, JobRun.started_at,
    JobRun.finished_at, JobRun.seen, JobRun.changed, JobRun.failed, JobRun.details, JobRun.error,
)  # fmt: skip
NEWEST_FIRST = (JobRun.started_at.desc(), JobRun.id.desc())


async def latest_job_runs(session: AsyncSession) -> dict[str, JobRunRecord]:
    """Each job's most recent run, by job name."""
    rows = await session.execute(
        select(*RUN_COLUMNS)
        .ext(distinct_on(JobRun.job_name))
        .order_by(JobRun.job_name, *NEWEST_FIRST)
    )
    return {row.job_name: JobRunRecord(*row) for row in rows}


async def job_runs_of(session: AsyncSession, job_name: str, *, limit: int) -> list[JobRunRecord]:
    rows = await session.execute(
        select(*RUN_COLUMNS).where(JobRun.job_name == job_name).order_by(*NEWEST_FIRST).limit(limit)
    )
    return [JobRunRecord(*row) for row in rows]
