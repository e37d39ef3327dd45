"""The finance and audit jobs, generateMonthlyReports and cleanupOldAuditLogs: their schedules,
workflows and activities. Their runs are recorded in job_runs like the operations jobs'."""

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.audit_retention import AuditRetentionActivities
from activities.finance_reports import MonthlyReportActivities
from tokenbill.settings import Settings
from worker.schedules import JobSchedule, register
from workflows.audit_retention import CleanupOldAuditLogsWorkflow
from workflows.finance_job_types import (
    CLEANUP_OLD_AUDIT_LOGS,
    CLEANUP_OLD_AUDIT_LOGS_WORKFLOW,
    GENERATE_MONTHLY_REPORTS,
    GENERATE_MONTHLY_REPORTS_WORKFLOW,
)
from workflows.monthly_reports import GenerateMonthlyReportsWorkflow

FINANCE_WORKFLOWS: list[type] = [GenerateMonthlyReportsWorkflow, CleanupOldAuditLogsWorkflow]

register(
    JobSchedule(
        GENERATE_MONTHLY_REPORTS,
        GENERATE_MONTHLY_REPORTS_WORKFLOW,
        "0 0 1 * *",
        "Store last month's revenue, purchases, subscriptions, consumption and expiry report",
    )
)
register(
    JobSchedule(
        CLEANUP_OLD_AUDIT_LOGS,
        CLEANUP_OLD_AUDIT_LOGS_WORKFLOW,
        "0 0 * * 0",
        "Create audit-log partitions ahead; drop those past AUDIT_LOG_RETENTION_DAYS, and "
        "Idempotency-Key records past IDEMPOTENCY_KEY_RETENTION",
    )
)


def finance_activities(
    settings: Settings, session_maker: async_sessionmaker[AsyncSession]
) -> list[Callable[..., Any]]:
    """The job-run bookkeeping activities come with the operations jobs' set."""
    return [
        *MonthlyReportActivities(session_maker).definitions(),
        *AuditRetentionActivities(settings).definitions(),
    ]
