"""A workflow start whose answer is lost is not "not started": the API finds out, and a retry with
the same Idempotency-Key reaches the same purchase or subscription, charged once.

The faults are a client interceptor on the API's own Temporal connection: the real start reaches
the real dev server (and a real worker runs the workflow), then the answer is replaced by the
deadline error a lost answer produces.
"""

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    WorkflowExecutionStatus,
    WorkflowHandle,
)
from temporalio.service import RPCError, RPCStatusCode

from api.app import create_app
from api.state import AppState
from tests.api.helpers import ApiUser, MakePackage, Maker, MakeUser, count_rows, new_key
from tests.purchase_helpers import run_purchase
from tokenbill.settings import Settings
from tokenbill.workflow_client import WorkflowClient
from worker.main import build_worker
from workflows.purchase_types import PurchaseInput, PurchaseResult, purchase_workflow_id
from workflows.subscription_types import SubscriptionRun

MakeOrganization = Callable[..., Awaitable[int]]
WAIT = 60.0


async def at_once(start: StartWorkflowInput) -> None:
    """The deadline passes as soon as the start is stored."""


class LostStartAnswers(Interceptor):
    """Temporal stores each of the first `times` starts, but its answer never arrives: once
    `until_deadline` (what the workflow gets done meanwhile) is over, the caller gets the
    deadline error instead."""

    def __init__(
        self,
        times: int,
        until_deadline: Callable[[StartWorkflowInput], Awaitable[None]] = at_once,
    ) -> None:
        self.remaining = times
        self.until_deadline = until_deadline

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _LosingAnswers(next, self)


class _LosingAnswers(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, faults: LostStartAnswers) -> None:
        super().__init__(next)
        self._faults = faults

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        handle = await super().start_workflow(input)
        if self._faults.remaining > 0:
            self._faults.remaining -= 1
            await self._faults.until_deadline(input)
            raise RPCError("Deadline Exceeded", RPCStatusCode.DEADLINE_EXCEEDED, b"")
        return handle


class RefusedStarts(Interceptor):
    """Every start is refused before it is carried out (as a rate-limited frontend does), after
    `meanwhile` ran: what other actors did while this request was on its way."""

    def __init__(self, meanwhile: Callable[[StartWorkflowInput], Awaitable[None]]) -> None:
        self.meanwhile = meanwhile

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Refusing(next, self)


class _Refusing(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, faults: RefusedStarts) -> None:
        super().__init__(next)
        self._faults = faults

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        await self._faults.meanwhile(input)
        raise RPCError("namespace rate limit exceeded", RPCStatusCode.RESOURCE_EXHAUSTED, b"")


@asynccontextmanager
async def api_over(
    settings: Settings, interceptors: Sequence[Interceptor] = ()
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client over the app, whose Temporal connection goes through `interceptors`."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        state = app.state.tokenbill
        assert isinstance(state, AppState)
        app.state.tokenbill = dataclasses.replace(
            state, workflows=WorkflowClient(settings, interceptors)
        )
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://tokenbill.test") as c:
            yield c


@pytest.fixture(scope="module")
async def worked_settings(
    api_settings: Settings, settings: Settings, temporal_client: Client, session_maker: Maker
) -> AsyncIterator[Settings]:
    """The API's settings on a queue a real worker serves, so started workflows charge."""
    queue = f"ambiguous-start-{uuid.uuid4().hex}"
    async with build_worker(temporal_client, settings, session_maker, task_queue=queue):
        yield api_settings.model_copy(update={"temporal_task_queue": queue})


@pytest.fixture
async def buyer(make_organization: MakeOrganization, make_user: MakeUser) -> ApiUser:
    return await make_user(await make_organization(), ("tokens.view", "tokens.purchase"))


def purchase_body(buyer: ApiUser, package: int) -> dict[str, object]:
    return {
        "organization_id": buyer.organization_id,
        "package_id": package,
        "payment_method": "pm_card_ok",
    }


def subscription_body(buyer: ApiUser, package: int) -> dict[str, object]:
    return {**purchase_body(buyer, package), "billing_interval": "P1M"}


async def purchase_charges(session_maker: Maker, organization_id: int | None) -> int:
    """The gateway's charges for any purchase of the organization."""
    return await count_rows(
        session_maker,
        "payment_gateway_operations g JOIN token_purchases p "
        "ON g.idempotency_key = :stem || p.purchase_reference_id || :charge",
        "p.organization_id = :o AND g.operation = 'charge'",
        o=organization_id,
        stem="purchase:",
        charge=":charge",
    )


async def subscription_charges(session_maker: Maker, organization_id: int | None) -> int:
    """The gateway's charges for any subscription of the organization."""
    return await count_rows(
        session_maker,
        "payment_gateway_operations g JOIN token_subscriptions s "
        "ON g.idempotency_key LIKE :stem || s.id || :period",
        "s.organization_id = :o AND g.operation = 'charge'",
        o=organization_id,
        stem="subscription:",
        period=":%",
    )


async def purchase_references(session_maker: Maker, organization_id: int | None) -> list[str]:
    async with session_maker() as session:
        found = await session.scalars(
            text("SELECT purchase_reference_id FROM token_purchases WHERE organization_id = :o"),
            {"o": organization_id},
        )
        return list(found)


async def subscription_ids(session_maker: Maker, organization_id: int | None) -> list[int]:
    async with session_maker() as session:
        found = await session.scalars(
            text("SELECT id FROM token_subscriptions WHERE organization_id = :o ORDER BY id"),
            {"o": organization_id},
        )
        return list(found)


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    for _ in range(int(WAIT * 10)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("not reached in time")


async def test_a_purchase_charged_before_its_start_answer_was_lost_is_charged_once(
    worked_settings: Settings,
    buyer: ApiUser,
    make_package: MakePackage,
    session_maker: Maker,
    temporal_client: Client,
):
    package = await make_package()
    headers = buyer.headers(**{"Idempotency-Key": new_key()})

    async def purchase_completes(start: StartWorkflowInput) -> None:
        await temporal_client.get_workflow_handle(start.id).result()

    async with api_over(worked_settings, [LostStartAnswers(2, purchase_completes)]) as client:
        first = await client.post(
            "/api/tokens/purchases", json=purchase_body(buyer, package), headers=headers
        )
        retry = await client.post(
            "/api/tokens/purchases", json=purchase_body(buyer, package), headers=headers
        )

    references = await purchase_references(session_maker, buyer.organization_id)
    assert await purchase_charges(session_maker, buyer.organization_id) == 1
    assert len(references) == 1
    for answer in (first, retry):
        assert answer.status_code == 202
        assert answer.json()["purchase_reference_id"] == references[0]
    assert await count_rows(
        session_maker, "token_purchases", "purchase_reference_id = :r AND status = 'completed'",
        r=references[0],
    ) == 1  # fmt: skip


async def test_a_purchase_whose_start_answers_are_lost_is_charged_once_and_its_retry_reaches_it(
    worked_settings: Settings,
    buyer: ApiUser,
    make_package: MakePackage,
    session_maker: Maker,
    temporal_client: Client,
):
    package = await make_package()
    headers = buyer.headers(**{"Idempotency-Key": new_key()})
    # Both the start and its confirmation lose their answers: the API cannot find out.
    async with api_over(worked_settings, [LostStartAnswers(times=2)]) as client:
        first = await client.post(
            "/api/tokens/purchases", json=purchase_body(buyer, package), headers=headers
        )
        retry = await client.post(
            "/api/tokens/purchases", json=purchase_body(buyer, package), headers=headers
        )

    references = await purchase_references(session_maker, buyer.organization_id)
    assert len(references) == 1
    await temporal_client.get_workflow_handle(purchase_workflow_id(references[0])).result()
    assert await purchase_charges(session_maker, buyer.organization_id) == 1
    assert first.status_code == 503
    error = first.json()["error"]
    assert error["code"] == "workflow_start_unknown"
    assert "nothing was charged" not in error["message"]
    assert error["details"]["purchase_reference_id"] == references[0]
    assert retry.status_code == 202
    assert retry.json()["purchase_reference_id"] == references[0]
    assert await count_rows(
        session_maker, "token_purchases", "purchase_reference_id = :r AND status = 'completed'",
        r=references[0],
    ) == 1  # fmt: skip


async def test_a_start_whose_answer_is_lost_once_is_confirmed_and_accepted(
    worked_settings: Settings,
    buyer: ApiUser,
    make_package: MakePackage,
    session_maker: Maker,
    temporal_client: Client,
):
    package = await make_package()
    async with api_over(worked_settings, [LostStartAnswers(times=1)]) as client:
        answer = await client.post(
            "/api/tokens/purchases",
            json=purchase_body(buyer, package),
            headers=buyer.headers(**{"Idempotency-Key": new_key()}),
        )

    assert answer.status_code == 202
    reference = answer.json()["purchase_reference_id"]
    result = await temporal_client.get_workflow_handle(
        purchase_workflow_id(reference), result_type=PurchaseResult
    ).result()
    assert result.status == "completed"
    assert await purchase_charges(session_maker, buyer.organization_id) == 1


async def test_a_subscription_whose_start_answers_are_lost_exists_once_and_bills_once(
    worked_settings: Settings,
    buyer: ApiUser,
    make_package: MakePackage,
    session_maker: Maker,
    temporal_client: Client,
):
    package = await make_package()
    headers = buyer.headers(**{"Idempotency-Key": new_key()})

    async def first_period_charged(start: StartWorkflowInput) -> None:
        run = start.args[0]
        assert isinstance(run, SubscriptionRun)

        async def charged() -> bool:
            return await count_rows(
                session_maker, "payment_gateway_operations",
                "idempotency_key LIKE :k AND operation = 'charge'",
                k=f"subscription:{run.subscription_id}:%",
            ) > 0  # fmt: skip

        await eventually(charged)

    async with api_over(worked_settings, [LostStartAnswers(2, first_period_charged)]) as client:
        first = await client.post(
            "/api/tokens/subscriptions", json=subscription_body(buyer, package), headers=headers
        )
        retry = await client.post(
            "/api/tokens/subscriptions", json=subscription_body(buyer, package), headers=headers
        )

    subscriptions = await subscription_ids(session_maker, buyer.organization_id)
    handles = [temporal_client.get_workflow_handle(f"subscription-{s}") for s in subscriptions]
    try:
        assert subscriptions == [first.json()["error"]["details"]["subscription_id"]]
        assert (await handles[0].describe()).status == WorkflowExecutionStatus.RUNNING
        assert await subscription_charges(session_maker, buyer.organization_id) == 1
    finally:
        for handle in handles:
            await handle.terminate("test over")
    assert first.status_code == 503
    error = first.json()["error"]
    assert error["code"] == "workflow_start_unknown"
    assert "nothing was charged" not in error["message"]
    assert retry.status_code == 201
    assert retry.json()["subscription_id"] == subscriptions[0]


async def test_a_start_that_definitely_failed_still_fails_the_purchase_and_frees_the_key(
    api_settings: Settings, buyer: ApiUser, make_package: MakePackage, session_maker: Maker
):
    package = await make_package()
    key = new_key()
    # Temporal answers NOT_FOUND for a namespace it does not have: it refused, nothing runs.
    nowhere = api_settings.model_copy(update={"temporal_namespace": f"none-{uuid.uuid4().hex}"})
    async with api_over(nowhere) as client:
        answer = await client.post(
            "/api/tokens/purchases",
            json=purchase_body(buyer, package),
            headers=buyer.headers(**{"Idempotency-Key": key}),
        )

    assert answer.status_code == 503
    error = answer.json()["error"]
    assert error["code"] == "workflow_unavailable"
    assert "nothing was charged" in error["message"]
    reference = error["details"]["purchase_reference_id"]
    failed = "purchase_reference_id = :r AND status = 'failed' AND failure_reason LIKE :reason"
    assert (
        await count_rows(
            session_maker, "token_purchases", failed, r=reference, reason="%could not be started%"
        )
        == 1
    )
    assert await count_rows(session_maker, "idempotency_records", "key = :k", k=key) == 0


async def test_a_subscription_whose_start_definitely_failed_is_cancelled_and_frees_the_key(
    api_settings: Settings, buyer: ApiUser, make_package: MakePackage, session_maker: Maker
):
    package = await make_package()
    key = new_key()
    nowhere = api_settings.model_copy(update={"temporal_namespace": f"none-{uuid.uuid4().hex}"})
    async with api_over(nowhere) as client:
        answer = await client.post(
            "/api/tokens/subscriptions",
            json=subscription_body(buyer, package),
            headers=buyer.headers(**{"Idempotency-Key": key}),
        )

    assert answer.status_code == 503
    error = answer.json()["error"]
    assert error["code"] == "workflow_unavailable"
    assert "nothing was charged" in error["message"]
    cancelled = "id = :s AND status = 'cancelled'"
    subscription_id = error["details"]["subscription_id"]
    assert await count_rows(session_maker, "token_subscriptions", cancelled, s=subscription_id) == 1
    assert await count_rows(session_maker, "idempotency_records", "key = :k", k=key) == 0


async def test_a_refused_start_of_a_purchase_a_workflow_already_took_is_accepted_not_failed(
    worked_settings: Settings,
    buyer: ApiUser,
    make_package: MakePackage,
    session_maker: Maker,
    temporal_client: Client,
):
    package = await make_package()
    taken: list[str] = []

    async def resumed_meanwhile(start: StartWorkflowInput) -> None:
        # The resumePendingPurchases job starts the pending purchase and it completes first.
        purchase = start.args[0]
        assert isinstance(purchase, PurchaseInput)
        taken.append(purchase.purchase_reference_id)
        await run_purchase(temporal_client, worked_settings.temporal_task_queue, purchase)

    async with api_over(worked_settings, [RefusedStarts(resumed_meanwhile)]) as client:
        answer = await client.post(
            "/api/tokens/purchases",
            json=purchase_body(buyer, package),
            headers=buyer.headers(**{"Idempotency-Key": new_key()}),
        )

    assert answer.status_code == 202
    assert answer.json()["purchase_reference_id"] == taken[0]
    assert await count_rows(
        session_maker, "token_purchases", "purchase_reference_id = :r AND status = 'completed'",
        r=taken[0],
    ) == 1  # fmt: skip
    assert await purchase_charges(session_maker, buyer.organization_id) == 1
