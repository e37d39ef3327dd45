"""processSubscriptionBilling, the hourly safety net: every subscription that should be billed
has a running workflow, and one whose billing date passed unbilled is nudged.

A missing workflow (failed, terminated, never started) is started again from its mirror row as an
abandoned child under its business id, so Temporal itself refuses a duplicate; a running one that
is overdue gets the check_billing signal. Running it twice changes nothing more.
"""

from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import (
    RetryPolicy,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from workflows.search_attributes import (
        NEXT_BILLING_DATE,
        ORGANIZATION_ID,
        SUBSCRIPTION_STATUS,
    )
    from workflows.subscription_activity_types import (
        LIST_SUBSCRIPTIONS_TO_REPAIR,
        RepairBatch,
        RepairCandidate,
        RepairPage,
    )
    from workflows.subscription_types import (
        CHECK_BILLING_SIGNAL,
        SUBSCRIPTION_WORKFLOW_NAME,
        subscription_workflow_id,
    )

PROCESS_SUBSCRIPTION_BILLING_WORKFLOW = "ProcessSubscriptionBillingWorkflow"
PROCESS_SUBSCRIPTION_BILLING_JOB = "processSubscriptionBilling"
PAGE_SIZE = 200
# A billing date this far in the past with the workflow still running means it is stuck.
OVERDUE_AFTER = timedelta(minutes=10)
LIST_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=5)


class BillingRepairProgress(BaseModel):
    """Carried across continue-as-new, one page of subscriptions per run."""

    after_id: int = 0
    started: int = 0
    nudged: int = 0


@workflow.defn(name=PROCESS_SUBSCRIPTION_BILLING_WORKFLOW)
class ProcessSubscriptionBillingWorkflow:
    @workflow.run
    async def run(self, progress: BillingRepairProgress | None = None) -> BillingRepairProgress:
        progress = progress or BillingRepairProgress()
        batch = await workflow.execute_activity(
            LIST_SUBSCRIPTIONS_TO_REPAIR,
            RepairPage(after_id=progress.after_id, limit=PAGE_SIZE),
            result_type=RepairBatch,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=LIST_RETRY,
        )
        for candidate in batch.candidates:
            if await self._start_if_missing(candidate):
                progress.started += 1
            elif self._overdue(candidate):
                handle = workflow.get_external_workflow_handle(
                    subscription_workflow_id(candidate.run.subscription_id)
                )
                await handle.signal(CHECK_BILLING_SIGNAL)
                progress.nudged += 1
        if batch.last_id is not None and len(batch.candidates) == PAGE_SIZE:
            progress.after_id = batch.last_id
            workflow.continue_as_new(progress)
        workflow.logger.info(
            "subscription billing checked: %d started, %d nudged",
            progress.started,
            progress.nudged,
        )
        return progress

    async def _start_if_missing(self, candidate: RepairCandidate) -> bool:
        run = candidate.run
        attributes: list[SearchAttributePair[Any]] = [
            SearchAttributePair(ORGANIZATION_ID, str(run.organization_id)),
            SearchAttributePair(SUBSCRIPTION_STATUS, candidate.status),
        ]
        if candidate.next_billing_date is not None:
            attributes.append(SearchAttributePair(NEXT_BILLING_DATE, candidate.next_billing_date))
        try:
            await workflow.start_child_workflow(
                SUBSCRIPTION_WORKFLOW_NAME,
                run,
                id=subscription_workflow_id(run.subscription_id),
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                search_attributes=TypedSearchAttributes(attributes),
            )
        except WorkflowAlreadyStartedError:
            return False
        workflow.logger.warning(
            "subscription %s had no running workflow: started", run.subscription_id
        )
        return True

    @staticmethod
    def _overdue(candidate: RepairCandidate) -> bool:
        due = candidate.next_billing_date
        return (
            candidate.status == "active"
            and due is not None
            and (due < workflow.now() - OVERDUE_AFTER)
        )
