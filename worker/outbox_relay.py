"""The outbox relay the worker keeps running: started, or woken, at every worker start."""

import logging

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from tokenbill.settings import Settings
from tokenbill.workflow_client import WorkflowClient
from tokenbill.workflow_signals import wake_outbox_relay
from workflows.outbox_types import OUTBOX_RELAY_WORKFLOW_ID

logger = logging.getLogger("tokenbill.worker")


async def ensure_outbox_relay(client: Client, settings: Settings) -> None:
    """Start the relay if it is not running (and wake it if it is); a failure is only logged,
    since the low-balance job wakes it again within 15 minutes.

    A relay left running on another task queue (a worker that was started with another
    TEMPORAL_TASK_QUEUE and is gone) would never be served: it is replaced by one on ours.
    """
    queue = settings.temporal_task_queue
    try:
        handle = client.get_workflow_handle(OUTBOX_RELAY_WORKFLOW_ID)
        try:
            running = await handle.describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        else:
            if running.status == WorkflowExecutionStatus.RUNNING and running.task_queue != queue:
                logger.warning("outbox relay ran on task queue %s: moving it to %s",
                               running.task_queue, queue)  # fmt: skip
                await handle.terminate(f"moved to task queue {queue}")
        await wake_outbox_relay(WorkflowClient.over(client, queue))
    except Exception as exc:  # the SDK raises RPCError or RuntimeError from its core
        logger.warning("could not start the outbox relay: %s", exc)
