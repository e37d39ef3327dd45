"""`charge.refunded`: the refund Stripe reports, checked against our own refund records. A refund
we did not make (from Stripe's dashboard, say) is flagged to finance; nothing moves here."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db import disputes as purchases
from db.notifications import record_event
from db.purchases import purchase_status

REFUND_UNMATCHED = "payment_provider.refund_unmatched"


@dataclass(frozen=True)
class RefundCheck:
    outcome: str
    organization_id: int | None


async def check_refund(session: AsyncSession, event_id: str, charge: dict[str, Any]) -> RefundCheck:
    purchase = await purchases.purchase_by_charge(
        session, [str(charge.get("payment_intent") or ""), str(charge.get("id") or "")]
    )
    if purchase is None:
        return RefundCheck("refund_for_unknown_charge", None)
    if await purchase_status(session, purchase.reference) == "refunded":
        return RefundCheck("refund_matched", purchase.organization_id)
    await record_event(
        session, idempotency_key=f"stripe:{event_id}:refund_unmatched",
        event_type=REFUND_UNMATCHED, organization_id=purchase.organization_id,
        wallet_id=purchase.wallet_id, severity="warning",
        payload={"purchase_reference": purchase.reference, "charge": charge.get("id"),
                 "amount_refunded": charge.get("amount_refunded"),
                 "currency": charge.get("currency")},
    )  # fmt: skip
    return RefundCheck("refund_unmatched", purchase.organization_id)
