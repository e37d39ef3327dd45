"""The safety net for accepted purchases whose workflow never started (the API died between its
commit and the start): start each one under its business-key id, which Temporal keeps unique."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

from workflows.purchase_recovery_types import (
    FIND_STALLED_PURCHASES,
    RESUME_PENDING_PURCHASES_WORKFLOW,
    ResumeResult,
    StalledPurchases,
)
from workflows.purchase_types import PURCHASE_WORKFLOW_NAME, purchase_workflow_id
from workflows.search_attributes import ORGANIZATION_ID, PURCHASE_REFERENCE


@workflow.defn(name=RESUME_PENDING_PURCHASES_WORKFLOW)
class ResumePendingPurchasesWorkflow:
    @workflow.run
    async def run(self) -> ResumeResult:
        stalled = await workflow.execute_activity(
            FIND_STALLED_PURCHASES,
            result_type=StalledPurchases,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=5),
        )
        started = already_running = 0
        for purchase in stalled.purchases:
            reference = purchase.purchase_reference_id
            try:
                # Abandoned children outlive this short job, as a purchase started by the API does.
                await workflow.start_child_workflow(
                    PURCHASE_WORKFLOW_NAME,
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
        return ResumeResult(
            seen=len(stalled.purchases), started=started, already_running=already_running
        )
