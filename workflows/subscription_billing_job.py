"""processSubscriptionBilling, the hourly safety net: every subscription that should be billed
has a running workflow, and one whose billing date passed unbilled is nudged.

A job like every other (WalletJob), paging through subscriptions by id. After each page the
workflow itself starts each missing workflow (failed, terminated, never started) again from its
mirror row as an abandoned child under its business id, so Temporal itself refuses a duplicate;
a running one that is overdue gets the check_billing signal. Running it twice changes nothing more.

The page may be stale by the time a workflow is started: a subscription whose workflow completed
(it only completes cancelled) is never started again (the id reuse policy allows failed and
terminated runs only), and a run started from a row cancelled meanwhile ends at its first step.
"""

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import FailureError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from workflows.job_types import BatchOutcome, JobCounts, JobInput, JobResult
    from workflows.search_attributes import (
        NEXT_BILLING_DATE,
        ORGANIZATION_ID,
        SUBSCRIPTION_STATUS,
    )
    from workflows.subscription_activity_types import (
        LIST_SUBSCRIPTIONS_TO_REPAIR,
        RepairBatch,
        RepairCandidate,
    )
    from workflows.subscription_types import (
        CHECK_BILLING_SIGNAL,
        SUBSCRIPTION_WORKFLOW,
        subscription_workflow_id,
    )
    from workflows.wallet_job import WalletJob

PROCESS_SUBSCRIPTION_BILLING_WORKFLOW = "ProcessSubscriptionBillingWorkflow"
PROCESS_SUBSCRIPTION_BILLING_JOB = "processSubscriptionBilling"
# A billing date this far in the past with the workflow still running means it is stuck.
OVERDUE_AFTER = timedelta(minutes=10)


@workflow.defn(name=PROCESS_SUBSCRIPTION_BILLING_WORKFLOW)
class ProcessSubscriptionBillingWorkflow(WalletJob):
    job_name = PROCESS_SUBSCRIPTION_BILLING_JOB
    batch_activity = LIST_SUBSCRIPTIONS_TO_REPAIR
    batch_outcome = RepairBatch

    @workflow.run
    async def run(self, job: JobInput | None = None) -> JobResult:
        return await self.run_job(job)

    async def after_batch(
        self, job_run_id: int, context_id: int | None, outcome: BatchOutcome
    ) -> JobCounts | None:
        """Start the page's missing workflows; nudge its overdue running ones."""
        assert isinstance(outcome, RepairBatch)
        restarted = signalled = failed = 0
        for candidate in outcome.candidates:
            if await self._start_if_missing(candidate):
                restarted += 1
            elif self._overdue(candidate):
                subscription_id = candidate.run.subscription_id
                handle = workflow.get_external_workflow_handle(
                    subscription_workflow_id(subscription_id)
                )
                try:
                    await handle.signal(CHECK_BILLING_SIGNAL)
                except FailureError as error:  # it closed since; the next run starts it again
                    workflow.logger.warning(
                        "subscription %s could not be nudged: %s", subscription_id, error
                    )
                    failed += 1
                else:
                    signalled += 1
        return JobCounts(
            changed=restarted + signalled,
            failed=failed,
            details={"restarted": restarted, "signalled": signalled},
        )

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
                SUBSCRIPTION_WORKFLOW,
                run,
                id=subscription_workflow_id(run.subscription_id),
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
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
