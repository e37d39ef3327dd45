"""WebhookDeliveryWorkflow: POST one event to one endpoint until it answers 2xx, gives a final
4xx, or the attempts run out; then record the outcome. Its id is per (endpoint, event) delivery."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows.purchase import failure_reason
    from workflows.webhook_delivery_types import (
        DELIVER_WEBHOOK,
        ENDPOINT_GONE,
        FINISH_DELIVERY,
        WEBHOOK_DELIVERY_WORKFLOW,
        WEBHOOK_REJECTED,
        AttemptOutcome,
        DeliveryStatus,
        FinishDeliveryInput,
        WebhookDeliveryInput,
        WebhookDeliveryResult,
    )

DATABASE_TIMEOUT = timedelta(seconds=30)
# The time the activity needs beyond the HTTP timeout: loading the event, logging the attempt.
BOOKKEEPING_MARGIN = timedelta(seconds=20)
FINISH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=0,
)


@workflow.defn(name=WEBHOOK_DELIVERY_WORKFLOW)
class WebhookDeliveryWorkflow:
    @workflow.run
    async def run(self, delivery: WebhookDeliveryInput) -> WebhookDeliveryResult:
        retry = delivery.retry
        status: DeliveryStatus = "succeeded"
        error: str | None = None
        try:
            await workflow.execute_activity(
                DELIVER_WEBHOOK,
                delivery,
                result_type=AttemptOutcome,
                start_to_close_timeout=retry.timeout + BOOKKEEPING_MARGIN,
                # The activity gives up after retry.maximum_attempts POSTs (it counts them in
                # the database); a crash or an outage between them is retried without limit.
                retry_policy=RetryPolicy(
                    initial_interval=retry.initial_interval,
                    backoff_coefficient=2.0,
                    maximum_interval=retry.maximum_interval,
                    maximum_attempts=0,
                    non_retryable_error_types=[WEBHOOK_REJECTED, ENDPOINT_GONE],
                ),
            )
        except ActivityError as failed:
            status, error = "failed", failure_reason(failed)
        await workflow.execute_activity(
            FINISH_DELIVERY,
            FinishDeliveryInput(delivery_id=delivery.delivery_id, status=status, error=error),
            start_to_close_timeout=DATABASE_TIMEOUT,
            retry_policy=FINISH_RETRY,
        )
        return WebhookDeliveryResult(delivery_id=delivery.delivery_id, status=status, error=error)
