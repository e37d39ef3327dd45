"""The safety net for accepted purchases whose workflow never started (the API died between its
commit and the start), a job like every other (WalletJob) paging through them by purchase id:
after each page the workflow itself starts each one under its business-key id, which Temporal
keeps unique."""

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from workflows.job_types import BatchOutcome, JobCounts, JobInput, JobResult
    from workflows.purchase_recovery_types import (
        FIND_STALLED_PURCHASES,
        RESUME_PENDING_PURCHASES_JOB,
        RESUME_PENDING_PURCHASES_WORKFLOW,
        StalledPurchases,
    )
    from workflows.purchase_types import PURCHASE_WORKFLOW, purchase_workflow_id
    from workflows.search_attributes import ORGANIZATION_ID, PURCHASE_REFERENCE
    from workflows.wallet_job import WalletJob


@workflow.defn(name=RESUME_PENDING_PURCHASES_WORKFLOW)
class ResumePendingPurchasesWorkflow(WalletJob):
    job_name = RESUME_PENDING_PURCHASES_JOB
    batch_activity = FIND_STALLED_PURCHASES
    batch_outcome = StalledPurchases

    @workflow.run
    async def run(self, job: JobInput | None = None) -> JobResult:
        return await self.run_job(job)

    async def after_batch(
        self, job_run_id: int, context_id: int | None, outcome: BatchOutcome
    ) -> JobCounts | None:
        """Start the page's purchases; one whose workflow runs already is left to it."""
        assert isinstance(outcome, StalledPurchases)
        started = already_running = 0
        for purchase in outcome.purchases:
            reference = purchase.purchase_reference_id
            try:
                # Abandoned children outlive this short job, as a purchase started by the API does.
                await workflow.start_child_workflow(
                    PURCHASE_WORKFLOW,
                    purchase,
                    id=purchase_workflow_id(reference),
                    parent_close_policy=ParentClosePolicy.ABANDON,
                    search_attributes=TypedSearchAttributes(
                        [
                            SearchAttributePair(ORGANIZATION_ID, str(purchase.organization_id)),
                            SearchAttributePair(PURCHASE_REFERENCE, reference),
                        ]
                    ),
                )
                started += 1
            except WorkflowAlreadyStartedError:
                already_running += 1
        return JobCounts(
            changed=started, details={"started": started, "already_running": already_running}
        )
