"""Starting a workflow whose id is its business key, and finding out whether it started when
Temporal's answer is lost.

A start whose answer never arrives (a deadline, a dropped connection) may have been stored by the
server all the same, and the workflow may already be charging. So an ambiguous error is not "not
started": the start is sent again under the same id with a conflict policy that returns the run
already there, which either confirms the first start or makes this one. Only a start that never
left this process, or that Temporal refused outright, is reported as not started.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from temporalio.client import Client
from temporalio.common import (
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.temporal_connection import TemporalConnector, TemporalUnavailable

logger = logging.getLogger("tokenbill.api.workflow_start")
START_TIMEOUT = timedelta(seconds=10)

# Codes with which Temporal refuses a request it did not carry out. Every other code (a deadline,
# UNAVAILABLE, UNKNOWN, INTERNAL, CANCELLED, ...) can arrive after the server stored the start.
_REFUSALS = frozenset(
    {
        RPCStatusCode.INVALID_ARGUMENT,
        RPCStatusCode.NOT_FOUND,
        RPCStatusCode.PERMISSION_DENIED,
        RPCStatusCode.UNAUTHENTICATED,
        RPCStatusCode.FAILED_PRECONDITION,
        RPCStatusCode.OUT_OF_RANGE,
        RPCStatusCode.UNIMPLEMENTED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
    }
)


class StartOutcome(Enum):
    STARTED = "started"
    """A run exists under the business key (this start's or an earlier one's)."""
    NOT_STARTED = "not_started"
    """No start reached Temporal or Temporal refused it: no run exists and none will appear."""
    UNKNOWN = "unknown"
    """A start may have been stored, and Temporal could not be asked: a run may exist or appear."""


@dataclass(frozen=True)
class BusinessKeyStart:
    """What to start: a workflow type, its one argument, and the business-key id it runs under."""

    workflow: str
    argument: object
    workflow_id: str
    task_queue: str
    search_attributes: TypedSearchAttributes


async def start_by_business_key(
    temporal: TemporalConnector, start: BusinessKeyStart
) -> StartOutcome:
    """Start the workflow once under its business key and say whether it runs."""
    try:
        client = await temporal.client()
    except TemporalUnavailable as exc:  # no connection, so no request was sent
        logger.warning("%s not started: %s", start.workflow_id, exc)
        return StartOutcome.NOT_STARTED
    try:
        await _send(client, start)
    except WorkflowAlreadyStartedError:
        return StartOutcome.STARTED
    except RPCError as exc:
        if exc.status in _REFUSALS:
            logger.warning("%s not started: Temporal refused it: %s", start.workflow_id, exc)
            return StartOutcome.NOT_STARTED
        return await _confirm(client, start, exc)
    except TimeoutError as exc:
        return await _confirm(client, start, exc)
    return StartOutcome.STARTED


async def _confirm(client: Client, start: BusinessKeyStart, cause: Exception) -> StartOutcome:
    """After an ambiguous error: start again, taking the run already under the id if there is
    one (running, or closed: REJECT_DUPLICATE refuses to run a finished one a second time)."""
    logger.warning("%s: start answered ambiguously (%s); confirming", start.workflow_id, cause)
    try:
        await _send(
            client,
            start,
            conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        return StartOutcome.STARTED
    except (RPCError, TimeoutError) as exc:
        # Even a refusal now does not undo the first request, which may still be stored.
        logger.warning("%s: whether it started is unknown: %s", start.workflow_id, exc)
        return StartOutcome.UNKNOWN
    return StartOutcome.STARTED


async def _send(
    client: Client,
    start: BusinessKeyStart,
    *,
    conflict_policy: WorkflowIDConflictPolicy = WorkflowIDConflictPolicy.UNSPECIFIED,
    reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
) -> None:
    await client.start_workflow(
        start.workflow,
        start.argument,
        id=start.workflow_id,
        task_queue=start.task_queue,
        search_attributes=start.search_attributes,
        id_conflict_policy=conflict_policy,
        id_reuse_policy=reuse_policy,
        rpc_timeout=START_TIMEOUT,
    )
