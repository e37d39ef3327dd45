"""Figures of the scheduled jobs and reconciliation for /metrics, read from the database so
every API instance reports the same numbers whichever worker ran the job.

`/metrics` exposes them as tokenbill_job_runs_total{job,status}, tokenbill_job_failures_total{job},
tokenbill_job_last_run_wallets{job,count=seen|changed|failed}, tokenbill_reconciliation_mismatches
(the latest finished run's count) and tokenbill_reconciliation_mismatches_found_total.
"""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import JobRun, ReconciliationMismatch, ReconciliationRun


@dataclass(frozen=True)
class JobFigures:
    runs_by_status: dict[str, int]
    last_started_at: datetime | None
    last_seen: int
    last_changed: int
    last_failed: int


@dataclass(frozen=True)
class OperationsMetrics:
    jobs: dict[str, JobFigures] = field(default_factory=dict)
    reconciliation_last_run_mismatches: int = 0
    reconciliation_last_run_finished_at: datetime | None = None
    reconciliation_mismatches_total: int = 0


async def operations_metrics(session: AsyncSession) -> OperationsMetrics:
    counts = await session.execute(
        select(JobRun.job_name, JobRun.status, func.count().label("n")).group_by(
            JobRun.job_name, JobRun.status
        )
    )
    by_job: dict[str, dict[str, int]] = {}
    for row in counts:
        by_job.setdefault(row.job_name, {})[row.status] = int(row.n)
    last = await session.execute(
        select(JobRun.job_name, JobRun.started_at, JobRun.seen, JobRun.changed, JobRun.failed)
        .ext(distinct_on(JobRun.job_name))
        .order_by(JobRun.job_name, JobRun.started_at.desc(), JobRun.id.desc())
    )
    jobs = {
        row.job_name: JobFigures(
            by_job.get(row.job_name, {}), row.started_at, row.seen, row.changed, row.failed
        )
        for row in last
    }
    latest = (
        await session.execute(
            select(ReconciliationRun.mismatch_count, ReconciliationRun.finished_at)
            .where(ReconciliationRun.finished_at.is_not(None))
            .order_by(ReconciliationRun.finished_at.desc(), ReconciliationRun.id.desc())
            .limit(1)
        )
    ).first()
    total = await session.scalar(select(func.count()).select_from(ReconciliationMismatch))
    return OperationsMetrics(
        jobs=jobs,
        reconciliation_last_run_mismatches=0 if latest is None else int(latest.mismatch_count),
        reconciliation_last_run_finished_at=None if latest is None else latest.finished_at,
        reconciliation_mismatches_total=int(total or 0),
    )
