"""What a purchase waiting for its customer asks of them (3-D Secure at Stripe)."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from db.stripe_customers import waiting_action


@dataclass(frozen=True)
class WaitingPayment:
    payment_reference: str
    client_secret: str | None
    action_url: str | None


async def waiting_payment(session: AsyncSession, reference: str) -> WaitingPayment | None:
    """The payment of the purchase still waiting for the customer, if one is."""
    row = await waiting_action(session, reference)
    if row is None:
        return None
    return WaitingPayment(row.payment_intent_id, row.client_secret, row.action_url)
