"""The operations' record: the last reconciliation runs with their mismatches and the scheduled
job runs (for admins), and the business figures /metrics reports."""

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from db.job_runs import JobRunRecord, job_runs_of, latest_job_runs
from db.metrics_snapshot import MetricsSnapshot, metrics_snapshot
from db.reconciliation import RunWithMismatches, latest_reconciliation_runs


async def reconciliation_runs(
    session: AsyncSession, *, limit: int, mismatches_per_run: int
) -> list[RunWithMismatches]:
    """Newest first, each with its first `mismatches_per_run` mismatches."""
    return await latest_reconciliation_runs(
        session, limit=limit, mismatches_per_run=mismatches_per_run
    )


async def job_runs(
    session: AsyncSession, job_name: str | None, *, limit: int
) -> list[JobRunRecord]:
    """Without a job name, each job's latest run by name; with one, its last `limit` runs,
    newest first."""
    if job_name is None:
        return sorted((await latest_job_runs(session)).values(), key=lambda r: r.job_name)
    return await job_runs_of(session, job_name, limit=limit)


async def business_figures(
    session: AsyncSession, *, default_low_threshold: Decimal
) -> MetricsSnapshot:
    """Wallets, balances, subscriptions, purchases and the jobs' figures, read now."""
    return await metrics_snapshot(session, default_low_threshold=default_low_threshold)
