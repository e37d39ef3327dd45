"""sendSubscriptionRenewalReminders: the safety net under SubscriptionWorkflow's own reminder.
A renewal due within the reminder lead gets its reminder, under the key the workflow uses, so
whichever comes first sends it and the other finds it sent."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.job_types import JobInput, JobResult
    from workflows.operations_job_types import (
        RENEWAL_REMINDERS_BATCH,
        SEND_SUBSCRIPTION_RENEWAL_REMINDERS_JOB,
        SEND_SUBSCRIPTION_RENEWAL_REMINDERS_WORKFLOW,
    )
    from workflows.wallet_job import WalletJob


@workflow.defn(name=SEND_SUBSCRIPTION_RENEWAL_REMINDERS_WORKFLOW)
class SendSubscriptionRenewalRemindersWorkflow(WalletJob):
    job_name = SEND_SUBSCRIPTION_RENEWAL_REMINDERS_JOB
    batch_activity = RENEWAL_REMINDERS_BATCH

    @workflow.run
    async def run(self, job: JobInput | None = None) -> JobResult:
        return await self.run_job(job)
