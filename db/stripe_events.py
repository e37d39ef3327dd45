"""Stripe's webhook events, each recorded once by its event id with what was done about it."""

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import StripeEvent

RECEIVED = "received"


async def claim_event(
    session: AsyncSession,
    *,
    event_id: str,
    event_type: str,
    livemode: bool,
    stripe_created_at: datetime,
    object_id: str | None,
    payload: dict[str, Any],
) -> bool:
    """Record the event; False when its id was recorded before (a replay: nothing to do). A
    concurrent delivery of the same id waits on the key until this transaction ends."""
    inserted = await session.scalar(
        insert(StripeEvent)
        .values(
            event_id=event_id, event_type=event_type, livemode=livemode,
            stripe_created_at=stripe_created_at, object_id=object_id, outcome=RECEIVED,
            payload=payload,
        )
        .on_conflict_do_nothing(index_elements=[StripeEvent.event_id])
        .returning(StripeEvent.event_id)
    )  # fmt: skip
    return inserted is not None


async def settle_event(
    session: AsyncSession, event_id: str, outcome: str, organization_id: int | None
) -> None:
    """Say what was done about the event just claimed (same transaction as the claim)."""
    await session.execute(
        update(StripeEvent)
        .where(StripeEvent.event_id == event_id)
        .values(outcome=outcome, organization_id=organization_id)
    )


async def event_outcome(session: AsyncSession, event_id: str) -> str | None:
    row = await session.get(StripeEvent, event_id)
    return None if row is None else row.outcome
