"""cleanupOldAuditLogs' activity: partitions ahead and retention, on an owner connection of its
own (the application's role may not remove audit records); it also removes Idempotency-Key
records past IDEMPOTENCY_KEY_RETENTION and spend limits' usage rows past
SPEND_LIMIT_USAGE_RETENTION, retention sweeps too light for a schedule of their own."""

from collections.abc import Callable
from typing import Any

from temporalio import activity

from db.audit_retention import apply_retention
from db.idempotency_retention import delete_expired_idempotency_records
from db.session import create_owner_engine
from db.spend_limit_retention import delete_old_spend_limit_usage
from tokenbill.settings import Settings
from workflows.finance_job_types import (
    APPLY_AUDIT_RETENTION,
    AuditRetentionRequest,
    AuditRetentionResult,
)


class AuditRetentionActivities:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def definitions(self) -> list[Callable[..., Any]]:
        return [self.apply]

    @activity.defn(name=APPLY_AUDIT_RETENTION)
    async def apply(self, request: AuditRetentionRequest) -> AuditRetentionResult:
        engine = create_owner_engine(self._settings)
        try:
            async with engine.begin() as connection:
                outcome = await apply_retention(
                    connection,
                    now=request.now,
                    retention_days=self._settings.audit_log_retention_days,
                    ahead=self._settings.audit_log_partitions_ahead,
                )
                keys_deleted = await delete_expired_idempotency_records(
                    connection, cutoff=request.now - self._settings.idempotency_key_retention
                )
                usage_deleted = await delete_old_spend_limit_usage(
                    connection,
                    now=request.now,
                    retention=self._settings.spend_limit_usage_retention,
                )
        finally:
            await engine.dispose()
        activity.logger.info(
            "audit retention: created %s, dropped %s, %s default rows deleted, "
            "%s idempotency keys deleted, %s spend limit usage rows deleted",
            outcome.partitions_created, outcome.partitions_dropped, outcome.default_rows_deleted,
            keys_deleted, usage_deleted,
        )  # fmt: skip
        return AuditRetentionResult(
            partitions_created=outcome.partitions_created,
            partitions_dropped=outcome.partitions_dropped,
            default_rows_deleted=outcome.default_rows_deleted,
            idempotency_records_deleted=keys_deleted,
            spend_limit_usage_deleted=usage_deleted,
        )
