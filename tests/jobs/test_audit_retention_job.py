"""cleanupOldAuditLogs on Temporal: the audit log's partitions exist ahead after a run, a second
run has nothing left to create, and each run is recorded."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import text
from temporalio.client import Client
from temporalio.worker import Worker

from activities.audit_retention import AuditRetentionActivities
from activities.job_runs import JobRunActivities
from db.audit_retention import add_months, month_start, partition_name
from tests.jobs.conftest import Maker, run_job
from tokenbill.settings import Settings
from workflows.audit_retention import CleanupOldAuditLogsWorkflow
from workflows.finance_job_types import CLEANUP_OLD_AUDIT_LOGS_WORKFLOW


async def test_audit_retention_job_keeps_partitions_ahead_and_records_its_runs(
    temporal_client: Client, settings: Settings, session_maker: Maker
) -> None:
    queue = f"audit-retention-{uuid.uuid4().hex}"
    activities = [
        *JobRunActivities(session_maker).definitions(),
        *AuditRetentionActivities(settings).definitions(),
    ]
    async with Worker(
        temporal_client,
        task_queue=queue,
        workflows=[CleanupOldAuditLogsWorkflow],
        activities=activities,
    ):
        first = await run_job(
            temporal_client,
            queue,
            CLEANUP_OLD_AUDIT_LOGS_WORKFLOW,
            history="cleanup-old-audit-logs",
        )
        second = await run_job(temporal_client, queue, CLEANUP_OLD_AUDIT_LOGS_WORKFLOW)

    this_month = month_start(datetime.now(UTC).date())
    wanted = [
        partition_name(add_months(this_month, offset))
        for offset in range(settings.audit_log_partitions_ahead + 1)
    ]
    async with session_maker() as session:
        existing = set(
            (
                await session.scalars(
                    text("SELECT relname FROM pg_class WHERE relname = ANY(:names)"),
                    {"names": wanted},
                )
            ).all()
        )
        statuses = (
            await session.scalars(
                text("SELECT status FROM job_runs WHERE id = ANY(:ids) ORDER BY id"),
                {"ids": [first.job_run_id, second.job_run_id]},
            )
        ).all()
    assert existing == set(wanted)
    assert (first.status, second.status) == ("succeeded", "succeeded")
    assert second.counts.details["partitions_created"] == 0
    assert list(statuses) == ["succeeded", "succeeded"]
