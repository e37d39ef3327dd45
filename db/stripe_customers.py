"""Each organisation's Stripe Customer id (stripe_customers): read it, or keep the one Stripe
created. Two concurrent first charges of one organisation create one Customer at Stripe (one
idempotency key) and keep it once here (the primary key decides)."""

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import StripeCustomer, StripePaymentAction


async def customer_of(session: AsyncSession, organization_id: int) -> str | None:
    return await session.scalar(
        select(StripeCustomer.customer_id).where(StripeCustomer.organization_id == organization_id)
    )


async def keep_customer(session: AsyncSession, organization_id: int, customer_id: str) -> str:
    """Store the organisation's Customer unless one is stored; the stored one either way."""
    await session.execute(
        insert(StripeCustomer)
        .values(organization_id=organization_id, customer_id=customer_id)
        .on_conflict_do_nothing(index_elements=[StripeCustomer.organization_id])
    )
    stored = await customer_of(session, organization_id)
    assert stored is not None
    return stored


async def default_payment_method(session: AsyncSession, organization_id: int) -> str | None:
    return await session.scalar(
        select(StripeCustomer.default_payment_method).where(
            StripeCustomer.organization_id == organization_id
        )
    )


async def record_payment_action(
    session: AsyncSession,
    *,
    organization_id: int,
    payment_intent_id: str,
    workflow_id: str,
    reference: str,
    client_secret: str | None,
    action_url: str | None,
) -> bool:
    """Keep a payment waiting for the customer; False when it is already kept."""
    result = await session.execute(
        insert(StripePaymentAction)
        .values(
            organization_id=organization_id,
            payment_intent_id=payment_intent_id,
            workflow_id=workflow_id,
            reference=reference,
            client_secret=client_secret,
            action_url=action_url,
            status="requires_action",
        )
        .on_conflict_do_nothing()
        .returning(StripePaymentAction.payment_intent_id)
    )
    return result.first() is not None


async def waiting_action(session: AsyncSession, reference: str) -> StripePaymentAction | None:
    """The payment of `reference` (a purchase reference) still waiting for the customer."""
    return await session.scalar(
        select(StripePaymentAction).where(
            StripePaymentAction.reference == reference,
            StripePaymentAction.status == "requires_action",
        )
    )


async def resolve_payment_action(
    session: AsyncSession, organization_id: int, payment_intent_id: str, status: str
) -> StripePaymentAction | None:
    """Mark the waiting payment succeeded or failed; the row (with its workflow id) when it was
    waiting, None otherwise (unknown, or resolved already)."""
    row = await session.scalar(
        update(StripePaymentAction)
        .where(
            StripePaymentAction.organization_id == organization_id,
            StripePaymentAction.payment_intent_id == payment_intent_id,
            StripePaymentAction.status == "requires_action",
        )
        .values(status=status, resolved_at=func.now())
        .returning(StripePaymentAction)
    )
    return row


async def waiting_actions(session: AsyncSession, organization_id: int, reference: str) -> list[str]:
    """The payments of `reference` (a period's reference) still waiting for the customer."""
    found = await session.scalars(
        select(StripePaymentAction.payment_intent_id).where(
            StripePaymentAction.organization_id == organization_id,
            StripePaymentAction.reference == reference,
            StripePaymentAction.status == "requires_action",
        )
    )
    return list(found)


async def payment_action(
    session: AsyncSession, organization_id: int, payment_intent_id: str
) -> StripePaymentAction | None:
    """The payment kept for the customer's authentication, whatever became of it."""
    return await session.scalar(
        select(StripePaymentAction).where(
            StripePaymentAction.organization_id == organization_id,
            StripePaymentAction.payment_intent_id == payment_intent_id,
        )
    )
