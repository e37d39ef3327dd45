"""The job_runs table: one row per scheduled job run, with its counts and outcome."""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


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
    run_id = await session.scalar(
        text(
            "INSERT INTO job_runs (job_name, workflow_id) VALUES (:name, :wf) "
            "ON CONFLICT (workflow_id) DO UPDATE SET job_name = EXCLUDED.job_name RETURNING id"
        ),
        {"name": job_name, "wf": workflow_id},
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
        text(
            "UPDATE job_runs SET status = :status, finished_at = now(), seen = :seen, "
            "changed = :changed, failed = :failed, details = CAST(:details AS jsonb), "
            "error = :error WHERE id = :id"
        ),
        {
            "id": job_run_id,
            "status": status,
            "seen": seen,
            "changed": changed,
            "failed": failed,
            "details": json.dumps(details, sort_keys=True),
            "error": error,
        },
    )


RUN_COLUMNS = (
    "id, job_name, workflow_id, status, started_at, finished_at, seen, changed, failed, "
    "details, error"
)


async def latest_job_runs(session: AsyncSession) -> dict[str, JobRunRecord]:
    """Each job's most recent run, by job name."""
    rows = await session.execute(
        text(
            f"SELECT DISTINCT ON (job_name) {RUN_COLUMNS} FROM job_runs "
            "ORDER BY job_name, started_at DESC, id DESC"
        )
    )
    return {row.job_name: JobRunRecord(*row) for row in rows}


async def job_runs_of(session: AsyncSession, job_name: str, *, limit: int) -> list[JobRunRecord]:
    rows = await session.execute(
        text(
            f"SELECT {RUN_COLUMNS} FROM job_runs WHERE job_name = :name "
            "ORDER BY started_at DESC, id DESC LIMIT :limit"
        ),
        {"name": job_name, "limit": limit},
    )
    return [JobRunRecord(*row) for row in rows]
