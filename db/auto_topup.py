"""The automatic top-up tables: policies, the record of each trigger (auto_topups), and the
wallet's auto top-up purchases as the caps and the in-flight check count them."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import AutoTopup, AutoTopupPolicy, OrganizationTokenWallet, TokenPurchase

AUTO_TOPUP = "auto_topup"
STILL_OPEN = ("pending", "processing")
OPEN_OR_DONE = ("pending", "processing", "completed")


@dataclass(frozen=True)
class CapUsage:
    """The wallet's auto top-up purchases that count against its caps."""

    today: int
    month_total: Decimal


async def policy_of_organization(
    session: AsyncSession, organization_id: int, *, for_update: bool = False
) -> AutoTopupPolicy | None:
    query = select(AutoTopupPolicy).where(AutoTopupPolicy.organization_id == organization_id)
    return await session.scalar(query.with_for_update() if for_update else query)


async def locked_policy_of_wallet(session: AsyncSession, wallet_id: int) -> AutoTopupPolicy | None:
    """The wallet's policy, its row locked until the transaction ends."""
    return await session.scalar(
        select(AutoTopupPolicy).where(AutoTopupPolicy.wallet_id == wallet_id).with_for_update()
    )


async def wallet_balance(session: AsyncSession, wallet_id: int) -> Decimal:
    balance = await session.scalar(
        select(OrganizationTokenWallet.current_balance).where(
            OrganizationTokenWallet.id == wallet_id
        )
    )
    return Decimal(balance or 0)


async def topup_of_key(session: AsyncSession, idempotency_key: str) -> AutoTopup | None:
    """The trigger recorded under `topup:<wallet>:<trigger>`, if it was."""
    return await session.scalar(
        select(AutoTopup).where(AutoTopup.idempotency_key == idempotency_key)
    )


async def record_topup(
    session: AsyncSession,
    *,
    idempotency_key: str,
    wallet_id: int,
    organization_id: int,
    trigger_kind: str,
    outcome: str,
    reason: str | None,
    purchase_reference_id: str | None,
) -> int | None:
    """Record a trigger's outcome once: its id, or None when the key was recorded before. Only a
    purchase still running is left unfinished."""
    topup_id = await session.scalar(
        insert(AutoTopup)
        .values(
            idempotency_key=idempotency_key,
            wallet_id=wallet_id,
            organization_id=organization_id,
            trigger_kind=trigger_kind,
            outcome=outcome,
            reason=reason,
            purchase_reference_id=purchase_reference_id,
            finished_at=None if outcome == "purchasing" else func.now(),
        )
        .on_conflict_do_nothing(
            index_elements=[AutoTopup.organization_id, AutoTopup.idempotency_key]
        )
        .returning(AutoTopup.id)
    )
    return None if topup_id is None else int(topup_id)


async def finish_topup(
    session: AsyncSession, topup_id: int, *, succeeded: bool, reason: str | None
) -> bool:
    """Record how a purchasing top-up ended; False when it was recorded before."""
    finished = await session.scalar(
        update(AutoTopup)
        .where(AutoTopup.id == topup_id, AutoTopup.outcome == "purchasing")
        .values(
            outcome="succeeded" if succeeded else "failed", reason=reason, finished_at=func.now()
        )
        .returning(AutoTopup.id)
    )
    return finished is not None


async def purchase(session: AsyncSession, reference: str) -> TokenPurchase:
    return (
        await session.scalars(
            select(TokenPurchase).where(TokenPurchase.purchase_reference_id == reference)
        )
    ).one()


async def topup_in_flight(session: AsyncSession, wallet_id: int) -> bool:
    found = await session.scalar(
        select(TokenPurchase.id)
        .where(
            TokenPurchase.wallet_id == wallet_id,
            TokenPurchase.purchase_type == AUTO_TOPUP,
            TokenPurchase.status.in_(STILL_OPEN),
        )
        .limit(1)
    )
    return found is not None


async def cap_usage(
    session: AsyncSession, wallet_id: int, *, day_start: datetime, month_start: datetime
) -> CapUsage:
    """Auto top-up purchases pending, processing or completed: today's count, the month's total."""
    row = (
        await session.execute(
            select(
                func.count().filter(TokenPurchase.created_at >= day_start),
                func.coalesce(func.sum(TokenPurchase.total_amount), 0),
            ).where(
                TokenPurchase.wallet_id == wallet_id,
                TokenPurchase.purchase_type == AUTO_TOPUP,
                TokenPurchase.status.in_(OPEN_OR_DONE),
                TokenPurchase.created_at >= month_start,
            )
        )
    ).one()
    return CapUsage(today=int(row[0]), month_total=Decimal(row[1]))


async def add_topup_purchase(
    session: AsyncSession,
    *,
    reference: str,
    organization_id: int,
    wallet_id: int,
    package_id: int | None,
    token_quantity: Decimal,
    price_per_token: Decimal,
    subtotal_amount: Decimal,
    tax_rate: Decimal,
    tax_amount: Decimal,
    total_amount: Decimal,
    currency: str,
    payment_method: str,
    workflow_id: str,
) -> None:
    """The pending token_purchases row of an automatic top-up."""
    await session.execute(
        insert(TokenPurchase).values(
            purchase_reference_id=reference,
            organization_id=organization_id,
            wallet_id=wallet_id,
            package_id=package_id,
            purchase_type=AUTO_TOPUP,
            token_quantity=token_quantity,
            price_per_token=price_per_token,
            subtotal_amount=subtotal_amount,
            tax_rate=tax_rate,
            tax_amount=tax_amount,
            total_amount=total_amount,
            currency=currency,
            payment_method=payment_method,
            status="pending",
            workflow_id=workflow_id,
        )
    )
