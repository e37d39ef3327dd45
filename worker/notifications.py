"""The notification and automatic top-up part of the worker: its workflows, activities, jobs,
and the outbox relay that must always run."""

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.auto_topup import AutoTopupActivities
from activities.balance_checks import BalanceCheckActivities
from activities.outbox_relay import OutboxRelayActivities
from activities.webhook_delivery import WebhookDeliveryActivities
from tokenbill.settings import Settings
from worker.schedules import JobSchedule, register
from workflows.auto_topup import AutoTopupWorkflow
from workflows.balance_check_types import (
    AUTO_TOPUP_CHECK_WORKFLOW_NAME,
    AUTO_TOPUP_JOB,
    LOW_BALANCE_CHECK_WORKFLOW_NAME,
    LOW_BALANCE_JOB,
)
from workflows.balance_checks import AutoTopupCheckWorkflow, LowBalanceCheckWorkflow
from workflows.outbox_relay import OutboxRelayWorkflow
from workflows.outbox_relay_start import wake_outbox_relay
from workflows.outbox_types import OUTBOX_RELAY_WORKFLOW_ID
from workflows.webhook_delivery import WebhookDeliveryWorkflow

logger = logging.getLogger("tokenbill.worker")

NOTIFICATION_WORKFLOWS: list[type] = [
    OutboxRelayWorkflow,
    WebhookDeliveryWorkflow,
    AutoTopupWorkflow,
    LowBalanceCheckWorkflow,
    AutoTopupCheckWorkflow,
]

register(
    JobSchedule(
        LOW_BALANCE_JOB,
        LOW_BALANCE_CHECK_WORKFLOW_NAME,
        "*/15 * * * *",
        "Record low-balance notifications a crossing is missing; wake the outbox relay",
    )
)
register(
    JobSchedule(
        AUTO_TOPUP_JOB,
        AUTO_TOPUP_CHECK_WORKFLOW_NAME,
        "*/30 * * * *",
        "Signal the auto top-up of wallets under their threshold with no top-up in flight",
        moves_money=True,
    )
)


def notification_activities(
    settings: Settings, session_maker: async_sessionmaker[AsyncSession], client: Client
) -> list[Callable[..., Any]]:
    return [
        *OutboxRelayActivities(session_maker, settings, client).definitions(),
        *WebhookDeliveryActivities(session_maker, settings).definitions(),
        *AutoTopupActivities(session_maker, settings).definitions(),
        *BalanceCheckActivities(session_maker, settings, client).definitions(),
    ]


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
        await wake_outbox_relay(client, task_queue=queue)
    except Exception as exc:  # the SDK raises RPCError or RuntimeError from its core
        logger.warning("could not start the outbox relay: %s", exc)
