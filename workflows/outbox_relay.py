"""OutboxRelayWorkflow: drains the notification outbox in batches and hands each event to its
channels (the structured log, the organization's webhooks, the wallet's AutoTopupWorkflow).

Claiming marks events dispatched; they are marked delivered only once every channel has them.
A dispatched event left behind (a relay terminated between the two) is claimed again after
OUTBOX_STALE_AFTER, and the webhook deliveries it plans are unique per (endpoint, event), so a
second pass delivers nothing twice.
"""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import (
    RetryPolicy,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from workflows.outbox_relay_types import (
        CLAIM_EVENTS,
        FAN_OUT_EVENT,
        FINISH_EVENTS,
        FORWARD_TO_AUTO_TOPUP,
        ClaimedEvents,
        FanOut,
        FinishEventsInput,
        RelayEvent,
    )
    from workflows.outbox_types import (
        AUTO_TOPUP_THRESHOLD_CROSSED,
        OUTBOX_RELAY_WORKFLOW,
        WAKE_SIGNAL,
        OutboxRelayInput,
    )
    from workflows.search_attributes import ORGANIZATION_ID
    from workflows.webhook_delivery_types import (
        WEBHOOK_DELIVERY_WORKFLOW,
        WebhookDeliveryInput,
        webhook_delivery_workflow_id,
    )

DATABASE_TIMEOUT = timedelta(seconds=30)
# The relay must not lose events: its activities retry until the database answers.
RELAY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=0,
)
MAX_HISTORY_EVENTS = 5_000


@workflow.defn(name=OUTBOX_RELAY_WORKFLOW)
class OutboxRelayWorkflow:
    def __init__(self) -> None:
        self._woken = False

    @workflow.signal(name=WAKE_SIGNAL)
    def wake(self) -> None:
        self._woken = True

    @workflow.run
    async def run(self, relay: OutboxRelayInput) -> None:
        drained = relay.drained_total
        while True:
            self._woken = False
            claimed = await workflow.execute_activity(
                CLAIM_EVENTS,
                result_type=ClaimedEvents,
                start_to_close_timeout=DATABASE_TIMEOUT,
                retry_policy=RELAY_RETRY,
            )
            if claimed.events:
                await asyncio.gather(*(self._relay(event) for event in claimed.events))
                await workflow.execute_activity(
                    FINISH_EVENTS,
                    FinishEventsInput(event_ids=[event.id for event in claimed.events]),
                    start_to_close_timeout=DATABASE_TIMEOUT,
                    retry_policy=RELAY_RETRY,
                )
                drained += len(claimed.events)
            if self._history_is_long():
                workflow.continue_as_new(OutboxRelayInput(drained_total=drained))
            if len(claimed.events) < claimed.batch_size:
                try:
                    await workflow.wait_condition(
                        lambda: self._woken, timeout=claimed.poll_interval
                    )
                except TimeoutError:
                    pass  # the poll: anything the wake signals missed is picked up now

    async def _relay(self, event: RelayEvent) -> None:
        fan_out = await workflow.execute_activity(
            FAN_OUT_EVENT,
            event,
            result_type=FanOut,
            start_to_close_timeout=DATABASE_TIMEOUT,
            retry_policy=RELAY_RETRY,
        )
        for delivery in fan_out.deliveries:
            await _start_delivery(delivery)
        if event.event_type == AUTO_TOPUP_THRESHOLD_CROSSED:
            await workflow.execute_activity(
                FORWARD_TO_AUTO_TOPUP,
                event,
                start_to_close_timeout=DATABASE_TIMEOUT,
                retry_policy=RELAY_RETRY,
            )

    @staticmethod
    def _history_is_long() -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= MAX_HISTORY_EVENTS
        )


async def _start_delivery(delivery: WebhookDeliveryInput) -> None:
    """Start the delivery as a child that outlives the relay; one already running is enough."""
    try:
        await workflow.start_child_workflow(
            WEBHOOK_DELIVERY_WORKFLOW,
            delivery,
            id=webhook_delivery_workflow_id(delivery.delivery_id),
            parent_close_policy=ParentClosePolicy.ABANDON,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(ORGANIZATION_ID, str(delivery.organization_id))]
            ),
        )
    except WorkflowAlreadyStartedError:
        workflow.logger.info("delivery %s already running", delivery.delivery_id)
