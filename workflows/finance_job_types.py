"""Names and payloads of the finance and audit jobs: generateMonthlyReports and
cleanupOldAuditLogs."""

from datetime import datetime

from pydantic import BaseModel

GENERATE_MONTHLY_REPORTS_JOB = "generateMonthlyReports"
CLEANUP_OLD_AUDIT_LOGS_JOB = "cleanupOldAuditLogs"

GENERATE_MONTHLY_REPORTS_WORKFLOW = "GenerateMonthlyReportsWorkflow"
CLEANUP_OLD_AUDIT_LOGS_WORKFLOW = "CleanupOldAuditLogsWorkflow"

BEGIN_MONTHLY_REPORT = "finance.begin_monthly_report"
MONTHLY_REPORT_BATCH = "finance.monthly_report_batch"
CONCLUDE_MONTHLY_REPORT = "finance.conclude_monthly_report"
APPLY_AUDIT_RETENTION = "audit.apply_retention"


class BeginMonthlyReport(BaseModel):
    month: str
    """YYYY-MM: the month the report covers (the one before the run's date)."""
    workflow_id: str


class AuditRetentionRequest(BaseModel):
    now: datetime
    """The workflow's clock: partitions ahead of it are created, those past retention dropped."""


class AuditRetentionResult(BaseModel):
    partitions_created: list[str]
    partitions_dropped: list[str]
    default_rows_deleted: int
    idempotency_records_deleted: int = 0
    spend_limit_usage_deleted: int = 0
