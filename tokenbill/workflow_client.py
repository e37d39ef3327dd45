"""The one workflow client: every start, signal, update and query of a workflow goes through it.

The Temporal connection is made on first need and remade after a failure, so the API starts (and
/api/health answers) while Temporal is down. Calls take typed references to the workflow's own
methods (`start(PurchaseWorkflow.run, ...)`, `update(..., SubscriptionWorkflow.cancel, ...)`), so
a renamed handler fails the type check, not production. Three errors say what went wrong:
WorkflowUnavailable (Temporal not reached; nothing was done), WorkflowNotRunning (no open run
under the id) and WorkflowRefused (the workflow's update handler or validator said no).

Starting under a business key follows one rule. A start whose answer never arrives (a deadline, a
dropped connection) may have been stored by the server all the same, and the workflow may already
be charging. So an ambiguous error is not "not started": the start is sent again under the same
id with a conflict policy that returns the run already there, which either confirms the first
start or makes this one. Only a start that never left this process, or that Temporal refused
outright, is reported as not started.
"""

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta
from enum import Enum
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    Interceptor,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from tokenbill.settings import Settings
from tokenbill.temporal_connect import connect_temporal

logger = logging.getLogger("tokenbill.workflow_client")
CONNECT_TIMEOUT = timedelta(seconds=5)
HEALTH_TIMEOUT = timedelta(seconds=3)
START_TIMEOUT = timedelta(seconds=10)
QUERY_TIMEOUT = timedelta(seconds=5)
UPDATE_TIMEOUT = timedelta(seconds=90)  # a subscription's resume charges the card before it answers
SIGNAL_TIMEOUT = timedelta(seconds=10)

ArgumentT = TypeVar("ArgumentT")
ResultT = TypeVar("ResultT")

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


class WorkflowUnavailable(Exception):
    """Temporal could not be reached or did not answer: the call was not carried out."""


class WorkflowNotRunning(Exception):
    """No open run of the workflow exists under the id."""


class WorkflowRefused(Exception):
    """The workflow refused an update: `reason` is its ApplicationError type."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class StartOutcome(Enum):
    STARTED = "started"
    """A run exists under the business key (this start's or an earlier one's)."""
    NOT_STARTED = "not_started"
    """No start reached Temporal or Temporal refused it: no run exists and none will appear."""
    UNKNOWN = "unknown"
    """A start may have been stored, and Temporal could not be asked: a run may exist or appear."""


class WorkflowClient:
    """The application's one Temporal client; `interceptors` (tracing, a test's faults) see every
    call it makes."""

    def __init__(self, settings: Settings, interceptors: Sequence[Interceptor] = ()) -> None:
        self._settings = settings
        self._interceptors = interceptors
        self._client: Client | None = None
        self._task_queue = settings.temporal_task_queue
        self._lock = asyncio.Lock()

    @classmethod
    def over(cls, client: Client, task_queue: str) -> "WorkflowClient":
        """A WorkflowClient over a client the process already holds (the worker's, a test's)."""
        workflows = cls(Settings(_env_file=None, temporal_task_queue=task_queue))
        workflows._client = client
        return workflows

    @property
    def task_queue(self) -> str:
        return self._task_queue

    async def client(self) -> Client:
        """The shared client, connecting now if there is none yet."""
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                self._client = await self._connect()
            return self._client

    async def check(self) -> None:
        """Raise WorkflowUnavailable unless the server answers its health check."""
        client = await self.client()
        try:
            healthy = await client.service_client.check_health(timeout=HEALTH_TIMEOUT)
        except Exception as exc:  # the SDK raises RPCError or RuntimeError from its core
            raise WorkflowUnavailable(str(exc)) from exc
        if not healthy:
            raise WorkflowUnavailable("Temporal reports itself unhealthy")

    async def start(
        self,
        run: Any,
        argument: Any,
        *,
        workflow_id: str,
        search_attributes: TypedSearchAttributes,
    ) -> StartOutcome:
        """Start `run` (a workflow's run method) once under its business key and say whether it
        runs, following the ambiguous-start rule above."""
        try:
            client = await self.client()
        except WorkflowUnavailable as exc:  # no connection, so no request was sent
            logger.warning("%s not started: %s", workflow_id, exc)
            return StartOutcome.NOT_STARTED
        start = _Start(run, argument, workflow_id, self.task_queue, search_attributes)
        try:
            await start.send(client)
        except WorkflowAlreadyStartedError:
            return StartOutcome.STARTED
        except RPCError as exc:
            if exc.status in _REFUSALS:
                logger.warning("%s not started: Temporal refused it: %s", workflow_id, exc)
                return StartOutcome.NOT_STARTED
            return await start.confirm(client, exc)
        except TimeoutError as exc:
            return await start.confirm(client, exc)
        return StartOutcome.STARTED

    async def start_new(
        self,
        run: Any,
        argument: Any,
        *,
        workflow_id: str,
        search_attributes: TypedSearchAttributes,
    ) -> None:
        """Start a run that must be new (its id never used); raises WorkflowAlreadyStartedError
        when one exists, WorkflowUnavailable when Temporal is not reached."""
        client = await self.client()
        try:
            await client.start_workflow(
                run,
                argument,
                id=workflow_id,
                task_queue=self.task_queue,
                search_attributes=search_attributes,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                rpc_timeout=START_TIMEOUT,
            )
        except WorkflowAlreadyStartedError:
            raise
        except (RPCError, TimeoutError) as exc:
            raise WorkflowUnavailable(str(exc)) from exc

    async def signal_with_start(
        self,
        run: Any,
        argument: Any,
        *,
        workflow_id: str,
        signal: str,
        signal_arguments: Sequence[Any] = (),
        search_attributes: TypedSearchAttributes | None = None,
    ) -> None:
        """Deliver `signal` to the open run under the id, starting `run` first when none is open.
        (Temporal takes the start signal by name only.) WorkflowUnavailable when not delivered."""
        client = await self.client()
        try:
            await client.start_workflow(
                run,
                argument,
                id=workflow_id,
                task_queue=self.task_queue,
                start_signal=signal,
                start_signal_args=list(signal_arguments),
                search_attributes=search_attributes,
                rpc_timeout=SIGNAL_TIMEOUT,
            )
        except (RPCError, TimeoutError) as exc:
            raise WorkflowUnavailable(f"{workflow_id}: {signal} not delivered: {exc}") from exc

    async def update(
        self, workflow_id: str, update: Any, argument: Any, result_type: type[ResultT]
    ) -> ResultT:
        """Execute an update (a workflow's update method; `argument` None for one that takes
        none) and return its answer."""
        client = await self.client()
        handle = client.get_workflow_handle(workflow_id)
        try:
            if argument is None:
                answer: ResultT = await handle.execute_update(
                    update, result_type=result_type, rpc_timeout=UPDATE_TIMEOUT
                )
            else:
                answer = await handle.execute_update(
                    update, argument, result_type=result_type, rpc_timeout=UPDATE_TIMEOUT
                )
        except WorkflowUpdateFailedError as refused:
            cause = refused.cause
            if isinstance(cause, ApplicationError):
                raise WorkflowRefused(cause.type or "refused", cause.message) from refused
            raise WorkflowRefused("refused", str(cause)) from refused
        except RPCError as exc:
            raise _not_running_or_unavailable(workflow_id, exc) from exc
        return answer

    async def query(self, workflow_id: str, query: Any, result_type: type[ResultT]) -> ResultT:
        """A query's answer (a workflow's query method), within QUERY_TIMEOUT."""
        client = await self.client()
        handle = client.get_workflow_handle(workflow_id)
        try:
            answer: ResultT = await asyncio.wait_for(
                handle.query(query, result_type=result_type, rpc_timeout=QUERY_TIMEOUT),
                QUERY_TIMEOUT.total_seconds(),
            )
        except RPCError as exc:
            raise _not_running_or_unavailable(workflow_id, exc) from exc
        except TimeoutError as exc:
            raise WorkflowUnavailable(f"{workflow_id} did not answer its query") from exc
        return answer

    async def signal(self, workflow_id: str, signal: Any, argument: Any = None) -> None:
        """Send a signal (a workflow's signal method) to the open run under the id."""
        client = await self.client()
        handle = client.get_workflow_handle(workflow_id)
        try:
            if argument is None:
                await handle.signal(signal, rpc_timeout=SIGNAL_TIMEOUT)
            else:
                await handle.signal(signal, argument, rpc_timeout=SIGNAL_TIMEOUT)
        except RPCError as exc:
            raise _not_running_or_unavailable(workflow_id, exc) from exc

    async def wait_for_close(self, workflow_id: str, seconds: float) -> None:
        """Wait until the workflow closes or the time is up. Callers read the outcome from their
        own rows, so an unreachable Temporal only shortens the wait."""
        try:
            client = await self.client()
            await asyncio.wait_for(client.get_workflow_handle(workflow_id).result(), seconds)
        except (TimeoutError, WorkflowUnavailable, WorkflowFailureError, RPCError) as exc:
            logger.debug("stopped waiting for %s: %s", workflow_id, exc)

    async def _connect(self) -> Client:
        address = self._settings.temporal_address
        if not address:
            raise WorkflowUnavailable("TEMPORAL_ADDRESS is not set")
        try:
            return await asyncio.wait_for(
                connect_temporal(self._settings, interceptors=self._interceptors),
                CONNECT_TIMEOUT.total_seconds(),
            )
        except Exception as exc:  # connection errors surface as RuntimeError from the core
            logger.warning("cannot connect to Temporal at %s: %s", address, exc)
            raise WorkflowUnavailable(f"cannot connect to Temporal at {address}") from exc


def _not_running_or_unavailable(workflow_id: str, exc: RPCError) -> Exception:
    if exc.status == RPCStatusCode.NOT_FOUND:
        return WorkflowNotRunning(f"{workflow_id} has no open run")
    logger.warning("%s: call not delivered: %s", workflow_id, exc)
    return WorkflowUnavailable(str(exc))


class _Start:
    """One business-key start: sent once, and confirmed after an ambiguous answer."""

    def __init__(
        self,
        run: Any,
        argument: Any,
        workflow_id: str,
        task_queue: str,
        search_attributes: TypedSearchAttributes,
    ) -> None:
        self.run = run
        self.argument = argument
        self.workflow_id = workflow_id
        self.task_queue = task_queue
        self.search_attributes = search_attributes

    async def send(
        self,
        client: Client,
        *,
        conflict_policy: WorkflowIDConflictPolicy = WorkflowIDConflictPolicy.UNSPECIFIED,
        reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    ) -> None:
        await client.start_workflow(
            self.run,
            self.argument,
            id=self.workflow_id,
            task_queue=self.task_queue,
            search_attributes=self.search_attributes,
            id_conflict_policy=conflict_policy,
            id_reuse_policy=reuse_policy,
            rpc_timeout=START_TIMEOUT,
        )

    async def confirm(self, client: Client, cause: Exception) -> StartOutcome:
        """After an ambiguous error: start again, taking the run already under the id if there is
        one (running, or closed: REJECT_DUPLICATE refuses to run a finished one a second time)."""
        logger.warning("%s: start answered ambiguously (%s); confirming", self.workflow_id, cause)
        try:
            await self.send(
                client,
                conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            return StartOutcome.STARTED
        except (RPCError, TimeoutError) as exc:
            # Even a refusal now does not undo the first request, which may still be stored.
            logger.warning("%s: whether it started is unknown: %s", self.workflow_id, exc)
            return StartOutcome.UNKNOWN
        return StartOutcome.STARTED
