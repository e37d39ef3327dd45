"""Signal-with-start of the outbox relay: wakes it, or starts it when none runs."""

from temporalio.client import Client

from workflows.outbox_types import (
    OUTBOX_RELAY_WORKFLOW,
    OUTBOX_RELAY_WORKFLOW_ID,
    WAKE_SIGNAL,
    OutboxRelayInput,
)


async def wake_outbox_relay(
    client: Client, *, task_queue: str, workflow_id: str = OUTBOX_RELAY_WORKFLOW_ID
) -> None:
    await client.start_workflow(
        OUTBOX_RELAY_WORKFLOW,
        OutboxRelayInput(),
        id=workflow_id,
        task_queue=task_queue,
        start_signal=WAKE_SIGNAL,
    )
