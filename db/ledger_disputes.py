"""The ledger movements of a dispute (migration 0018's functions): freeze the disputed tokens
out of the purchase's lot into system:dispute_frozen, then release them back to that lot or
forfeit them to system:dispute_loss. Each has its own idempotency key; a replay moves nothing."""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class DisputeMovement:
    transaction_id: int
    wallet_id: int
    amount: Decimal
    replayed: bool


def freeze_key(stripe_dispute_id: str) -> str:
    return f"dispute:{stripe_dispute_id}:freeze"


def release_key(stripe_dispute_id: str) -> str:
    return f"dispute:{stripe_dispute_id}:release"


def forfeit_key(stripe_dispute_id: str) -> str:
    return f"dispute:{stripe_dispute_id}:forfeit"


# Raw SQL: these call the ledger's PL/pgSQL functions (one round trip, wallet row locked first).
async def freeze(
    session: AsyncSession, stripe_dispute_id: str, credit_key: str, tokens: Decimal, reference: str
) -> DisputeMovement | None:
    """Take up to `tokens` from the purchase's lot; None when its lot holds none any more."""
    row = (
        await session.execute(
            text(
                "SELECT transaction_id, wallet_id, amount, replayed "
                "FROM ledger_dispute_freeze(:key, :credit, :amount, :description, :reference)"
            ),
            {
                "key": freeze_key(stripe_dispute_id),
                "credit": credit_key,
                "amount": tokens,
                "description": f"Frozen by dispute {stripe_dispute_id}",
                "reference": reference,
            },
        )
    ).one_or_none()
    return None if row is None else DisputeMovement(*row)


async def release(
    session: AsyncSession, stripe_dispute_id: str, credit_key: str, reference: str
) -> DisputeMovement | None:
    row = (
        await session.execute(
            text(
                "SELECT transaction_id, wallet_id, amount, replayed FROM "
                "ledger_dispute_release(:key, :freeze, :credit, :description, :reference)"
            ),
            {
                "key": release_key(stripe_dispute_id),
                "freeze": freeze_key(stripe_dispute_id),
                "credit": credit_key,
                "reference": reference,
                "description": f"Released: dispute {stripe_dispute_id} decided for the customer",
            },
        )
    ).one_or_none()
    return None if row is None else DisputeMovement(*row)


async def forfeit(
    session: AsyncSession, stripe_dispute_id: str, reference: str
) -> DisputeMovement | None:
    row = (
        await session.execute(
            text(
                "SELECT transaction_id, wallet_id, amount, replayed FROM "
                "ledger_dispute_forfeit(:key, :freeze, :description, :reference)"
            ),
            {
                "key": forfeit_key(stripe_dispute_id),
                "freeze": freeze_key(stripe_dispute_id),
                "reference": reference,
                "description": f"Forfeited: dispute {stripe_dispute_id} lost",
            },
        )
    ).one_or_none()
    return None if row is None else DisputeMovement(*row)
