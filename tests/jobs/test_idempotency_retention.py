"""Idempotency-Key records are kept for IDEMPOTENCY_KEY_RETENTION, then cleanupOldAuditLogs
removes them: an older record goes, a younger one stays."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from temporalio.client import Client
from temporalio.worker import Worker

from activities.audit_retention import AuditRetentionActivities
from activities.job_runs import JobRunActivities
from tests.jobs.conftest import Maker, run_job
from tokenbill.settings import Settings
from workflows.audit_retention import CleanupOldAuditLogsWorkflow
from workflows.finance_job_types import CLEANUP_OLD_AUDIT_LOGS_WORKFLOW


async def test_idempotency_keys_older_than_the_retention_are_removed_by_the_retention_job(
    temporal_client: Client, settings: Settings, session_maker: Maker
) -> None:
    retention = settings.idempotency_key_retention
    # An hour either side of the cutoff: far from it whatever the run's own clock says.
    ages = {"expired": retention + timedelta(hours=1), "kept": retention - timedelta(hours=1)}
    scope = f"user:retention-{uuid.uuid4().hex}"
    async with session_maker() as session, session.begin():
        for key, age in ages.items():
            await session.execute(
                text(
                    "INSERT INTO idempotency_records (scope, key, request_hash, response_status, "
                    "response_body, created_at) VALUES (:scope, :key, 'h', 201, '{}', :at)"
                ),
                {"scope": scope, "key": key, "at": datetime.now(UTC) - age},
            )
    queue = f"idempotency-retention-{uuid.uuid4().hex}"
    async with Worker(
        temporal_client,
        task_queue=queue,
        workflows=[CleanupOldAuditLogsWorkflow],
        activities=[
            *JobRunActivities(session_maker).definitions(),
            *AuditRetentionActivities(settings).definitions(),
        ],
    ):
        result = await run_job(temporal_client, queue, CLEANUP_OLD_AUDIT_LOGS_WORKFLOW)

    async with session_maker() as session:
        left = (
            await session.scalars(
                text("SELECT key FROM idempotency_records WHERE scope = :scope"), {"scope": scope}
            )
        ).all()
    assert list(left) == ["kept"]
    assert result.counts.details["idempotency_records_deleted"] >= 1
