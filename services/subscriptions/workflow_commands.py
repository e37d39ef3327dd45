"""Sending a command to a subscription's workflow as an update, and reading its refusal."""

from typing import Any, TypeVar

from services.errors import conflict, unavailable
from services.workflow_client import (
    WorkflowClient,
    WorkflowNotRunning,
    WorkflowRefused,
    WorkflowUnavailable,
)
from workflows.subscription_types import subscription_workflow_id

ResultT = TypeVar("ResultT")


async def send_command(
    workflows: WorkflowClient,
    subscription_id: int,
    update: Any,
    argument: Any,
    result_type: type[ResultT],
) -> ResultT:
    """The workflow's answer to `update` (a SubscriptionWorkflow update method). A refusal or an
    ended workflow is a conflict; an unreachable Temporal is unavailable (nothing applied)."""
    try:
        return await workflows.update(
            subscription_workflow_id(subscription_id), update, argument, result_type
        )
    except WorkflowRefused as refused:
        raise conflict(
            "subscription_state_conflict", refused.message, {"reason": refused.reason}
        ) from refused
    except WorkflowNotRunning as ended:
        raise conflict(
            "subscription_not_running",
            f"Subscription {subscription_id} has no running workflow (it has ended).",
        ) from ended
    except WorkflowUnavailable as exc:
        raise unavailable(
            "workflow_unavailable",
            "The workflow service is unavailable, so the command was not applied. Retry later.",
        ) from exc
