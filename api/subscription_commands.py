"""Sending a command to a subscription's workflow as an update, and reading its refusal."""

import logging
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.errors import ApiError
from api.temporal_connection import TemporalConnector, TemporalUnavailable
from workflows.subscription_types import subscription_workflow_id

logger = logging.getLogger("tokenbill.api.subscriptions")
UPDATE_TIMEOUT = timedelta(seconds=90)  # a resume charges the card before it answers
T = TypeVar("T")


async def send_update(
    temporal: TemporalConnector, subscription_id: int, name: str, argument: Any, result: type[T]
) -> T:
    """The workflow's answer; a refusal is a 409 with its reason, an ended workflow a 409 too."""
    try:
        client = await temporal.client()
        handle = client.get_workflow_handle(subscription_workflow_id(subscription_id))
        answer: T = await handle.execute_update(
            name, argument, result_type=result, rpc_timeout=UPDATE_TIMEOUT
        )
    except WorkflowUpdateFailedError as refused:
        cause = refused.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause)
        code = cause.type if isinstance(cause, ApplicationError) and cause.type else "refused"
        raise ApiError(409, "subscription_state_conflict", message, {"reason": code}) from refused
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(
                409,
                "subscription_not_running",
                f"Subscription {subscription_id} has no running workflow (it has ended).",
            ) from exc
        raise _unavailable(subscription_id, exc) from exc
    except TemporalUnavailable as exc:
        raise _unavailable(subscription_id, exc) from exc
    return answer


def _unavailable(subscription_id: int, exc: Exception) -> ApiError:
    logger.warning("subscription %s: command not delivered: %s", subscription_id, exc)
    return ApiError(
        503,
        "workflow_unavailable",
        "The workflow service is unavailable, so the command was not applied. Retry later.",
    )
