"""Payloads of the reconciliation job's own steps."""

from pydantic import BaseModel

from workflows.job_types import JobCounts


class ConcludeReconciliation(BaseModel):
    run_id: int
    counts: JobCounts
