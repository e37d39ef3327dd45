"""Disputes: a `charge.dispute.created` freezes the disputed share of the purchase's tokens (a
ledger transfer wallet -> system:dispute_frozen, so they cannot be spent), finance is notified,
and an admin decides: release (back to the wallet, into the same lot) or forfeit (booked to
system:dispute_loss). Every step is audited."""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_UP, Decimal
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from db import disputes as rows
from db import ledger_disputes
from db.audit import Actor, RequestContext
from db.ledger import TOKEN_QUANTUM
from db.models import TokenDispute
from db.notifications import record_event
from services import audit
from services.errors import conflict, not_found
from services.payments_provider.minor_units import from_minor_units

Decision = Literal["release", "forfeit"]
DISPUTE_OPENED = "dispute.opened"
DISPUTE_DECIDED = "dispute.decided"
STRIPE = Actor.system("stripe")
_STATUS_OF: dict[Decision, str] = {"release": "released", "forfeit": "forfeited"}


@dataclass(frozen=True)
class DisputeOpening:
    """What the webhook handler says it did with a dispute event."""

    outcome: str
    organization_id: int | None


def disputed_tokens(tokens: Decimal, total: Decimal, disputed: Decimal) -> Decimal:
    """The purchase's tokens the disputed money paid for: all of them for the whole amount, else
    the same share, rounded up to the ledger's quantum (a hold never falls short)."""
    if disputed >= total or total <= 0:
        return tokens
    share = (tokens * disputed / total).quantize(TOKEN_QUANTUM, rounding=ROUND_UP)
    return min(share, tokens)


async def open_dispute(session: AsyncSession, dispute: dict[str, Any]) -> DisputeOpening:
    """Record the dispute of a Stripe Dispute object and freeze its tokens (idempotent)."""
    charge = str(dispute.get("charge") or "")
    intent = str(dispute.get("payment_intent") or "")
    purchase = await rows.purchase_by_charge(session, [intent, charge])
    if purchase is None:
        return DisputeOpening("dispute_for_unknown_charge", None)
    currency = str(dispute.get("currency") or purchase.currency).upper()
    amount = from_minor_units(int(dispute["amount"]), currency)
    tokens = disputed_tokens(purchase.token_quantity, purchase.total_amount, amount)
    record = await rows.insert_dispute(
        session, purchase=purchase, stripe_dispute_id=str(dispute["id"]),
        charge_reference=intent or charge, amount=amount, currency=currency,
        reason=str(dispute.get("reason") or "general"), disputed_tokens=tokens,
    )  # fmt: skip
    if record is None:
        return DisputeOpening("dispute_already_recorded", purchase.organization_id)
    frozen = Decimal(0)
    if purchase.credit_key is not None:
        moved = await ledger_disputes.freeze(
            session, record.stripe_dispute_id, purchase.credit_key, tokens, purchase.reference
        )
        frozen = Decimal(0) if moved is None else moved.amount
    await rows.set_frozen_tokens(session, record, frozen)
    await audit.record(
        session, STRIPE, "dispute.opened", _target(record), None, dispute_view(record), None
    )
    await record_event(
        session, idempotency_key=f"dispute:{record.stripe_dispute_id}:opened",
        event_type=DISPUTE_OPENED, organization_id=record.organization_id,
        wallet_id=record.wallet_id, severity="critical",
        payload={**dispute_view(record), "purchase_reference": purchase.reference,
                 "tokens_already_spent": str(tokens - frozen)},
    )  # fmt: skip
    return DisputeOpening("tokens_frozen", purchase.organization_id)


async def decide(
    session: AsyncSession,
    dispute_id: int,
    decision: Decision,
    note: str | None,
    *,
    user_id: int,
    context: RequestContext | None,
) -> TokenDispute:
    """Release the frozen tokens to the wallet or forfeit them; one decision per dispute."""
    record = await rows.dispute_for_update(session, dispute_id)
    if record is None:
        raise not_found("dispute_not_found", f"There is no dispute {dispute_id}.")
    if record.status != "frozen":
        raise conflict(
            "dispute_already_decided",
            f"Dispute {dispute_id} was already decided ({record.status}).",
            {"status": record.status},
        )
    before = dispute_view(record)
    purchase = await rows.purchase_by_id(session, record.purchase_id)
    reference = purchase.reference if purchase is not None else record.charge_reference
    if record.frozen_tokens > 0 and decision == "release":
        assert purchase is not None and purchase.credit_key is not None
        await ledger_disputes.release(
            session, record.stripe_dispute_id, purchase.credit_key, reference
        )
    elif record.frozen_tokens > 0:
        await ledger_disputes.forfeit(session, record.stripe_dispute_id, reference)
    await rows.record_decision(
        session, record, status=_STATUS_OF[decision], user_id=user_id, note=note,
        decided_at=datetime.now(UTC),
    )  # fmt: skip
    after = dispute_view(record)
    await audit.record(
        session, Actor.user(user_id), f"dispute.{decision}", _target(record), before, after,
        context,
    )  # fmt: skip
    await record_event(
        session, idempotency_key=f"dispute:{record.stripe_dispute_id}:decided",
        event_type=DISPUTE_DECIDED, organization_id=record.organization_id,
        wallet_id=record.wallet_id, severity="warning", payload=after,
    )  # fmt: skip
    return record


async def list_disputes(
    session: AsyncSession, *, status: str | None, limit: int, offset: int
) -> tuple[list[TokenDispute], int]:
    return await rows.list_disputes(session, status=status, limit=limit, offset=offset)


async def get_dispute(session: AsyncSession, dispute_id: int) -> TokenDispute:
    record = await rows.dispute_by_id(session, dispute_id)
    if record is None:
        raise not_found("dispute_not_found", f"There is no dispute {dispute_id}.")
    return record


def dispute_view(record: TokenDispute) -> dict[str, Any]:
    return {
        "id": record.id,
        "stripe_dispute_id": record.stripe_dispute_id,
        "organization_id": record.organization_id,
        "status": record.status,
        "amount": str(record.amount),
        "currency": record.currency,
        "disputed_tokens": str(record.disputed_tokens),
        "frozen_tokens": str(record.frozen_tokens),
    }


def _target(record: TokenDispute) -> audit.Target:
    return audit.Target("dispute", record.id, record.organization_id)
