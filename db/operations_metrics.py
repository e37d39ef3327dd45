"""Figures of the scheduled jobs and reconciliation for /metrics, read from the database so
every API instance reports the same numbers whichever worker ran the job.

`/metrics` exposes them as tokenbill_job_runs_total{job,status}, tokenbill_job_failures_total{job},
tokenbill_job_last_run_wallets{job,count=seen|changed|failed}, tokenbill_reconciliation_mismatches
(the latest finished run's count) and tokenbill_reconciliation_mismatches_found_total.
"""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


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
        text("SELECT job_name, status, count(*) AS n FROM job_runs GROUP BY 1, 2")
    )
    by_job: dict[str, dict[str, int]] = {}
    for row in counts:
        by_job.setdefault(row.job_name, {})[row.status] = int(row.n)
    last = await session.execute(
        text(
            "SELECT DISTINCT ON (job_name) job_name, started_at, seen, changed, failed "
            "FROM job_runs ORDER BY job_name, started_at DESC, id DESC"
        )
    )
    jobs = {
        row.job_name: JobFigures(
            by_job.get(row.job_name, {}), row.started_at, row.seen, row.changed, row.failed
        )
        for row in last
    }
    latest = (
        await session.execute(
            text(
                "SELECT mismatch_count, finished_at FROM reconciliation_runs "
                "WHERE finished_at IS NOT NULL ORDER BY finished_at DESC, id DESC LIMIT 1"
            )
        )
    ).first()
    total = await session.scalar(text("SELECT count(*) FROM reconciliation_mismatches"))
    return OperationsMetrics(
        jobs=jobs,
        reconciliation_last_run_mismatches=0 if latest is None else int(latest.mismatch_count),
        reconciliation_last_run_finished_at=None if latest is None else latest.finished_at,
        reconciliation_mismatches_total=int(total or 0),
    )
