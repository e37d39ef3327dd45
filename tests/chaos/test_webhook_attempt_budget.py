"""Found by the chaos run: webhook deliveries failed with no POST made and no log, their attempts
used up by worker crashes and a database restart. Only POSTs made count against the budget."""

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import text
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.webhook_delivery import WebhookDeliveryActivities
from db.notifications import record_event
from tests.database_helpers import rows
from tests.notification_helpers import Receiver, create_endpoint
from tests.purchase_helpers import Maker
from tokenbill.settings import Settings
from workflows.webhook_delivery_types import DeliveryRetry, WebhookDeliveryInput

BUDGET = 2


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def local_settings(db_settings: Settings) -> Settings:
    """The receiver is on 127.0.0.1, which only WEBHOOK_ALLOW_PRIVATE_ADDRESSES lets through."""
    return db_settings.model_copy(update={"webhook_allow_private_addresses": True})


async def planned_delivery(session_maker: Maker, settings: Settings, organization_id: int,
                           url: str) -> WebhookDeliveryInput:  # fmt: skip
    endpoint_id, _ = await create_endpoint(session_maker, organization_id, url, settings=settings)
    async with session_maker() as session, session.begin():
        event_id = await record_event(
            session, idempotency_key=f"test:{uuid.uuid4().hex}", event_type="purchase.completed",
            payload={"purchase_reference_id": "TKP-TEST"}, organization_id=organization_id,
        )  # fmt: skip
        delivery_id = await session.scalar(
            text("INSERT INTO webhook_deliveries (endpoint_id, event_id, organization_id) "
                 "VALUES (:e, :ev, :o) RETURNING id"),
            {"e": endpoint_id, "ev": event_id, "o": organization_id},
        )  # fmt: skip
    assert event_id is not None and delivery_id is not None
    retry = DeliveryRetry(initial_interval=timedelta(seconds=1),
                          maximum_interval=timedelta(seconds=1), maximum_attempts=BUDGET,
                          timeout=timedelta(seconds=5))  # fmt: skip
    return WebhookDeliveryInput(delivery_id=int(delivery_id), endpoint_id=endpoint_id,
                                event_id=event_id, organization_id=organization_id,
                                retry=retry)  # fmt: skip


def run_number(attempt: int) -> ActivityEnvironment:
    """The activity as Temporal runs it for the attempt-th time."""
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(environment.info, attempt=attempt)
    return environment


async def logged(session_maker: Maker, delivery_id: int) -> list[tuple[int, int | None]]:
    found = await rows(
        session_maker,
        "SELECT attempt, status_code FROM webhook_delivery_attempts WHERE delivery_id = :d "
        "ORDER BY id",
        d=delivery_id,
    )
    return [(row.attempt, row.status_code) for row in found]


async def test_runs_lost_to_crashes_do_not_use_up_the_attempts(
    session_maker: Maker, db_settings: Settings, make_organization, receiver: Receiver
) -> None:
    settings = local_settings(db_settings)
    delivery = await planned_delivery(
        session_maker, settings, await make_organization(), receiver.url
    )
    deliver = WebhookDeliveryActivities(session_maker, settings).deliver
    receiver.answers.extend([503, 503])
    with pytest.raises(ApplicationError) as first:
        await run_number(1).run(deliver, delivery)
    assert not first.value.non_retryable
    # Runs 2 to 6 died with their worker or the database before they POSTed anything.
    with pytest.raises(ApplicationError) as last:
        await run_number(7).run(deliver, delivery)
    assert last.value.non_retryable
    assert await logged(session_maker, delivery.delivery_id) == [(1, 503), (2, 503)]
    assert len(receiver.received) == BUDGET


async def test_an_accepted_attempt_logged_before_a_crash_is_not_sent_again(
    session_maker: Maker, db_settings: Settings, make_organization, receiver: Receiver
) -> None:
    settings = local_settings(db_settings)
    delivery = await planned_delivery(
        session_maker, settings, await make_organization(), receiver.url
    )
    deliver = WebhookDeliveryActivities(session_maker, settings).deliver
    await run_number(1).run(deliver, delivery)
    again = await run_number(2).run(deliver, delivery)
    assert again.status_code == 200
    assert len(receiver.received) == 1
    assert await logged(session_maker, delivery.delivery_id) == [(1, 200)]


async def test_a_delivery_whose_attempts_are_used_up_posts_nothing_more(
    session_maker: Maker, db_settings: Settings, make_organization, receiver: Receiver
) -> None:
    settings = local_settings(db_settings)
    delivery = await planned_delivery(
        session_maker, settings, await make_organization(), receiver.url
    )
    deliver = WebhookDeliveryActivities(session_maker, settings).deliver
    receiver.answers.extend([500, 500])
    for attempt in (1, 2):
        with pytest.raises(ApplicationError):
            await run_number(attempt).run(deliver, delivery)
    with pytest.raises(ApplicationError) as after_a_crash:
        await run_number(3).run(deliver, delivery)
    assert after_a_crash.value.non_retryable
    assert len(receiver.received) == BUDGET
