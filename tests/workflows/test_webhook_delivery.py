"""Outbox events reach webhooks: signed, retried on 5xx, not on 4xx, logged attempt by attempt,
and delivered even when nothing signalled the relay after the commit."""

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import text
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from temporalio.client import Client, WorkflowExecutionStatus

from db.notifications import record_event
from db.webhook_secrets import new_signing_secret
from tests.database_helpers import rows
from tests.history_recording import record_histories
from tests.notification_helpers import (
    Receiver,
    RunningWorker,
    create_endpoint,
    eventually,
    notification_settings,
    notification_worker,
)
from tests.purchase_helpers import Maker
from tokenbill.settings import Settings
from tokenbill.workflow_client import WorkflowClient
from tokenbill.workflow_signals import wake_outbox_relay
from worker.outbox_relay import ensure_outbox_relay
from workflows.balance_check_types import (
    AUTO_TOPUP_CHECK_WORKFLOW,
    LOW_BALANCE_CHECK_WORKFLOW,
    LowBalanceCheckInput,
)
from workflows.job_types import JobResult
from workflows.outbox_types import OUTBOX_RELAY_WORKFLOW_ID
from workflows.webhook_delivery_types import WebhookDeliveryResult, webhook_delivery_workflow_id
from workflows.webhook_signature import SignatureMismatch, verify_signature


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def running(
    temporal_client: Client, settings: Settings, session_maker: Maker
) -> AsyncIterator[RunningWorker]:
    async with notification_worker(
        temporal_client, notification_settings(settings), session_maker
    ) as worker:
        yield worker


async def record(
    session_maker: Maker, organization_id: int, event_type: str = "purchase.completed"
) -> int:
    async with session_maker() as session, session.begin():
        event_id = await record_event(
            session,
            idempotency_key=f"test:{uuid.uuid4().hex}",
            event_type=event_type,
            payload={"purchase_reference_id": "TKP-TEST", "amount": "12.50"},
            organization_id=organization_id,
        )
    assert event_id is not None
    return event_id


async def attempts(
    session_maker: Maker, endpoint_id: int, event_id: int
) -> list[tuple[int | None, str]]:
    found = await rows(
        session_maker,
        "SELECT a.status_code, d.status FROM webhook_delivery_attempts a "
        "JOIN webhook_deliveries d ON d.id = a.delivery_id "
        "WHERE d.endpoint_id = :e AND d.event_id = :ev ORDER BY a.id",
        e=endpoint_id,
        ev=event_id,
    )
    return [(row.status_code, row.status) for row in found]


async def delivery_status(session_maker: Maker, endpoint_id: int, event_id: int) -> str | None:
    found = await rows(
        session_maker,
        "SELECT status FROM webhook_deliveries WHERE endpoint_id = :e AND event_id = :ev",
        e=endpoint_id,
        ev=event_id,
    )
    return found[0].status if found else None


async def record_delivery(
    client: Client, session_maker: Maker, endpoint_id: int, event_id: int, scenario: str
) -> None:
    """Wait for the delivery's workflow to close, then record its history for the replay test."""
    found = await rows(
        session_maker,
        "SELECT id FROM webhook_deliveries WHERE endpoint_id = :e AND event_id = :ev",
        e=endpoint_id,
        ev=event_id,
    )
    workflow_id = webhook_delivery_workflow_id(found[0].id)
    await client.get_workflow_handle(workflow_id, result_type=WebhookDeliveryResult).result()
    await record_histories(client, workflow_id, scenario)


async def test_event_arrives_signed_in_the_standard_webhooks_format(
    running: RunningWorker, session_maker: Maker, make_organization, receiver: Receiver
):
    organization_id = await make_organization()
    endpoint_id, secret = await create_endpoint(
        session_maker, organization_id, receiver.url, settings=running.settings
    )
    event_id = await record(session_maker, organization_id)

    await eventually(
        lambda: delivery_status(session_maker, endpoint_id, event_id), lambda s: s == "succeeded"
    )

    assert len(receiver.received) == 1
    request = receiver.received[0]
    # The specification's own library verifies it, as a receiver would.
    document = Webhook(secret).verify(request.body, request.headers)
    assert request.headers["webhook-id"] == f"evt_{event_id}"
    assert verify_signature(secret, request.headers, request.body, now=int(time.time()))
    assert document["id"] == f"evt_{event_id}"
    assert document["type"] == "purchase.completed"
    assert document["organization_id"] == organization_id
    assert document["data"]["amount"] == "12.50"
    with pytest.raises(WebhookVerificationError):
        Webhook(new_signing_secret()).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(request.body + b" ", request.headers)
    with pytest.raises(SignatureMismatch):
        verify_signature(secret, request.headers, request.body + b" ", now=int(time.time()))
    # The relay marks the event delivered once it has handed it to every channel; that step and
    # the delivery's own POST run side by side, in either order.
    assert await eventually(lambda: event_status(session_maker, event_id), "delivered".__eq__) == (
        "delivered"
    )


async def event_status(session_maker: Maker, event_id: int) -> str:
    events = await rows(
        session_maker, "SELECT status FROM notification_events WHERE id = :i", i=event_id
    )
    return str(events[0].status)


async def test_server_error_is_retried_until_the_endpoint_accepts(
    running: RunningWorker,
    temporal_client: Client,
    session_maker: Maker,
    make_organization,
    receiver: Receiver,
):
    receiver.answers.extend([500, 503])
    organization_id = await make_organization()
    endpoint_id, _ = await create_endpoint(
        session_maker, organization_id, receiver.url, settings=running.settings
    )
    event_id = await record(session_maker, organization_id)

    await eventually(
        lambda: delivery_status(session_maker, endpoint_id, event_id), lambda s: s == "succeeded"
    )

    await record_delivery(
        temporal_client, session_maker, endpoint_id, event_id, "webhook-delivery-retried"
    )
    assert [code for code, _ in await attempts(session_maker, endpoint_id, event_id)] == [
        500,
        503,
        200,
    ]
    assert len(receiver.received) == 3
    assert len({r.body for r in receiver.received}) == 1  # the same event every time


async def test_client_error_is_not_retried_and_the_delivery_fails(
    running: RunningWorker,
    temporal_client: Client,
    session_maker: Maker,
    make_organization,
    receiver: Receiver,
):
    receiver.answers.append(400)
    organization_id = await make_organization()
    endpoint_id, _ = await create_endpoint(
        session_maker, organization_id, receiver.url, settings=running.settings
    )
    event_id = await record(session_maker, organization_id)

    await eventually(
        lambda: delivery_status(session_maker, endpoint_id, event_id), lambda s: s == "failed"
    )

    await record_delivery(
        temporal_client, session_maker, endpoint_id, event_id, "webhook-delivery-refused"
    )
    assert await attempts(session_maker, endpoint_id, event_id) == [(400, "failed")]
    assert len(receiver.received) == 1


async def test_event_filter_sends_only_the_matching_types(
    running: RunningWorker, session_maker: Maker, make_organization, receiver: Receiver
):
    organization_id = await make_organization()
    endpoint_id, _ = await create_endpoint(
        session_maker, organization_id, receiver.url, ("wallet.*",), settings=running.settings
    )
    skipped = await record(session_maker, organization_id, "purchase.completed")
    sent = await record(session_maker, organization_id, "wallet.balance_low")

    await eventually(
        lambda: delivery_status(session_maker, endpoint_id, sent), lambda s: s == "succeeded"
    )

    assert await delivery_status(session_maker, endpoint_id, skipped) is None
    assert [json.loads(r.body)["type"] for r in receiver.received] == ["wallet.balance_low"]


async def test_event_committed_without_a_relay_is_delivered_by_the_safety_net(
    temporal_client: Client,
    settings: Settings,
    session_maker: Maker,
    make_organization,
    receiver: Receiver,
    running: RunningWorker,
):
    # The crash: the event is committed, and nothing signals or runs a relay afterwards. The
    # module's relay polls the same outbox, so it is down for the length of the crash.
    await temporal_client.get_workflow_handle(running.relay_id).terminate("relay crashed")
    try:
        await deliver_after_a_crash(
            temporal_client, settings, session_maker, make_organization, receiver
        )
    finally:
        await wake_outbox_relay(
            WorkflowClient.over(temporal_client, running.task_queue), workflow_id=running.relay_id
        )


async def deliver_after_a_crash(
    temporal_client: Client,
    settings: Settings,
    session_maker: Maker,
    make_organization,
    receiver: Receiver,
) -> None:
    organization_id = await make_organization()
    endpoint_id, _ = await create_endpoint(
        session_maker, organization_id, receiver.url, settings=settings
    )
    event_id = await record(session_maker, organization_id)
    async with notification_worker(
        temporal_client, notification_settings(settings), session_maker, with_relay=False
    ) as worker:
        assert await delivery_status(session_maker, endpoint_id, event_id) is None
        sweep_id = f"low-balance-check-{uuid.uuid4().hex}"
        sweep = await temporal_client.execute_workflow(
            LOW_BALANCE_CHECK_WORKFLOW,
            LowBalanceCheckInput(relay_workflow_id=worker.relay_id),
            id=sweep_id,
            task_queue=worker.task_queue,
            result_type=JobResult,
        )
        assert sweep.counts.details["events_waiting"] >= 1
        try:
            status = await eventually(
                lambda: delivery_status(session_maker, endpoint_id, event_id),
                lambda s: s == "succeeded",
            )
        finally:
            await temporal_client.get_workflow_handle(worker.relay_id).terminate("test finished")
    await record_histories(temporal_client, sweep_id, "low-balance-check")
    await record_histories(temporal_client, worker.relay_id, "outbox-relay")
    assert status == "succeeded"
    assert len(receiver.received) == 1


async def test_dispatched_event_left_by_a_lost_relay_is_claimed_again_and_delivered_once(
    running: RunningWorker, session_maker: Maker, make_organization, receiver: Receiver
):
    organization_id = await make_organization()
    endpoint_id, _ = await create_endpoint(
        session_maker, organization_id, receiver.url, settings=running.settings
    )
    event_id = await record(session_maker, organization_id)
    # A relay claimed it and was lost before handing it on: dispatched, long ago.
    async with session_maker() as session, session.begin():
        await session.execute(
            text(
                "UPDATE notification_events SET status = 'dispatched', "
                "dispatched_at = now() - interval '1 hour' WHERE id = :i"
            ),
            {"i": event_id},
        )

    await eventually(
        lambda: delivery_status(session_maker, endpoint_id, event_id), lambda s: s == "succeeded"
    )

    assert len(receiver.received) == 1


async def test_worker_start_moves_a_relay_stranded_on_another_task_queue_to_its_own(
    running: RunningWorker, temporal_client: Client
):
    await wake_outbox_relay(WorkflowClient.over(temporal_client, f"gone-{uuid.uuid4().hex}"))
    handle = temporal_client.get_workflow_handle(OUTBOX_RELAY_WORKFLOW_ID)
    try:
        await ensure_outbox_relay(
            temporal_client,
            running.settings.model_copy(update={"temporal_task_queue": running.task_queue}),
        )
        moved = await handle.describe()
    finally:
        await handle.terminate("test finished")

    assert moved.task_queue == running.task_queue
    assert moved.status == WorkflowExecutionStatus.RUNNING


async def test_scheduled_jobs_complete_when_started_without_input(
    running: RunningWorker, temporal_client: Client
):
    due_id = f"auto-topup-check-{uuid.uuid4().hex}"
    due = await temporal_client.execute_workflow(
        AUTO_TOPUP_CHECK_WORKFLOW,
        id=due_id,
        task_queue=running.task_queue,
        result_type=JobResult,
    )
    sweep = await temporal_client.execute_workflow(
        LOW_BALANCE_CHECK_WORKFLOW,
        id=f"low-balance-check-{uuid.uuid4().hex}",
        task_queue=running.task_queue,
        result_type=JobResult,
    )
    if sweep.counts.details["relay_woken"]:  # it woke the contract's relay
        await temporal_client.get_workflow_handle(OUTBOX_RELAY_WORKFLOW_ID).terminate("test")

    await record_histories(temporal_client, due_id, "auto-topup-check")
    assert (due.job_name, due.status) == ("checkAutoTopupTriggers", "succeeded")
    assert (sweep.job_name, sweep.status) == ("checkLowBalanceThresholds", "succeeded")
