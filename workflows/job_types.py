"""The scheduled jobs' shared payloads and activity names: every job pages through wallets (or the
rows it looks after, such as subscriptions or purchases) in batches and ends with counts; each run
is recorded in job_runs."""

from typing import Literal

from pydantic import BaseModel, Field

START_JOB_RUN = "jobs.start_run"
FINISH_JOB_RUN = "jobs.finish_run"

JobRunStatus = Literal["running", "succeeded", "failed"]


class JobCounts(BaseModel):
    """Wallets seen, changed and failed, plus job-specific tallies (lots expired, mismatches)."""

    seen: int = 0
    changed: int = 0
    failed: int = 0
    details: dict[str, int] = Field(default_factory=dict)

    def plus(self, other: "JobCounts") -> "JobCounts":
        details = dict(self.details)
        for name, value in other.details.items():
            details[name] = details.get(name, 0) + value
        return JobCounts(
            seen=self.seen + other.seen,
            changed=self.changed + other.changed,
            failed=self.failed + other.failed,
            details=details,
        )


class JobInput(BaseModel):
    """Empty when a schedule starts the job; carries the progress across continue-as-new.

    after_wallet_id is the cursor: a wallet id for the wallet jobs, the id of the job's own rows
    (subscriptions, purchases) for the jobs that page through those. A job may subclass this with
    settings of its own, which continue-as-new carries along."""

    job_run_id: int | None = None
    context_id: int | None = None
    after_wallet_id: int = 0
    counts: JobCounts = Field(default_factory=JobCounts)


class WalletBatch(BaseModel):
    """One page: the rows with an id above after_wallet_id (the activity knows the size)."""

    job_run_id: int
    after_wallet_id: int
    context_id: int | None = None


class BatchOutcome(BaseModel):
    """A job whose workflow acts on the page itself (starting child workflows) subclasses this
    with the rows it needs."""

    counts: JobCounts
    last_wallet_id: int | None
    """The last row of this page; None when there were no rows left."""


class JobResult(BaseModel):
    job_name: str
    job_run_id: int
    status: JobRunStatus
    counts: JobCounts


class StartJobRun(BaseModel):
    job_name: str
    workflow_id: str


class FinishJobRun(BaseModel):
    job_run_id: int
    status: JobRunStatus
    counts: JobCounts
    error: str | None = None
