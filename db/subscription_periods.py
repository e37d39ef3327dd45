"""A subscription's billed periods: each one's token_purchases row (purchase_type 'subscription')
and the voiding of the invoices of periods that will never be paid. Every write is conditional,
so running it again with the same input changes nothing."""

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Update, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Invoice, TokenPurchase

PROCESSING = TokenPurchase.status == "processing"


async def add_period_purchase(
    session: AsyncSession,
    *,
    reference: str,
    organization_id: int,
    wallet_id: int,
    package_id: int,
    token_quantity: Decimal,
    price_per_token: Decimal,
    subtotal_amount: Decimal,
    tax_rate: Decimal,
    tax_amount: Decimal,
    total_amount: Decimal,
    currency: str,
    payment_method: str,
    workflow_id: str,
    subscription_id: int,
    purchased_by_user_id: int | None,
) -> None:
    """The period's purchase row, processing; nothing when it exists already."""
    await session.execute(
        insert(TokenPurchase)
        .values(
            purchase_reference_id=reference,
            organization_id=organization_id,
            wallet_id=wallet_id,
            package_id=package_id,
            purchase_type="subscription",
            token_quantity=token_quantity,
            price_per_token=price_per_token,
            subtotal_amount=subtotal_amount,
            tax_rate=tax_rate,
            tax_amount=tax_amount,
            total_amount=total_amount,
            currency=currency,
            payment_method=payment_method,
            status="processing",
            workflow_id=workflow_id,
            subscription_id=subscription_id,
            purchased_by_user_id=purchased_by_user_id,
            processing_at=func.now(),
        )
        .on_conflict_do_nothing(
            index_elements=[TokenPurchase.organization_id, TokenPurchase.purchase_reference_id]
        )
    )


def _in_organization(organization_id: int | None, column: Any) -> list[ColumnElement[bool]]:
    """With the subscription's organisation, a statement stays on its shard when the tables are
    distributed (docs/distributed-schema.md)."""
    return [] if organization_id is None else [column == organization_id]


async def captured_charge(
    session: AsyncSession, reference: str, *, organization_id: int | None = None
) -> str | None:
    """The gateway charge that paid the period, if one did."""
    return await session.scalar(
        select(TokenPurchase.gateway_charge_id).where(
            TokenPurchase.purchase_reference_id == reference,
            *_in_organization(organization_id, TokenPurchase.organization_id),
        )
    )


async def record_charge(
    session: AsyncSession,
    reference: str,
    *,
    charge_id: str,
    payment_method: str,
    organization_id: int | None = None,
) -> bool:
    """Note the charge that paid the period; False when one was noted before."""
    first = await session.scalar(
        _update_purchase(reference, TokenPurchase.gateway_charge_id.is_(None), organization_id)
        .values(gateway_charge_id=charge_id, payment_method=payment_method, updated_at=func.now())
        .returning(TokenPurchase.id)
    )
    return first is not None


async def record_failed_charge(
    session: AsyncSession,
    reference: str,
    *,
    reason: str | None,
    payment_method: str,
    invoice_id: int,
    organization_id: int | None = None,
) -> None:
    """A declined attempt on an unpaid period: why, with which method, and its open invoice."""
    await session.execute(
        _update_purchase(reference, PROCESSING, organization_id).values(
            failure_reason=reason,
            payment_method=payment_method,
            invoice_id=invoice_id,
            updated_at=func.now(),
        )
    )


async def complete(
    session: AsyncSession,
    reference: str,
    *,
    invoice_id: int,
    charge_id: str | None,
    organization_id: int | None = None,
) -> bool:
    """The paid period's row completed with its invoice; False when it was not processing."""
    changed = await session.scalar(
        _update_purchase(reference, PROCESSING, organization_id)
        .values(
            status="completed",
            completed_at=func.now(),
            invoice_id=invoice_id,
            failure_reason=None,
            updated_at=func.now(),
            gateway_charge_id=func.coalesce(TokenPurchase.gateway_charge_id, charge_id),
        )
        .returning(TokenPurchase.id)
    )
    return changed is not None


async def fail_period(
    session: AsyncSession, reference: str, reason: str, *, organization_id: int | None = None
) -> None:
    """An unpaid period that will never be paid: its processing row fails, the reason appended."""
    await session.execute(
        _update_purchase(reference, PROCESSING, organization_id).values(**_failed(reason))
    )


async def fail_uncharged_periods(
    session: AsyncSession,
    subscription_id: int,
    reason: str,
    *,
    organization_id: int | None = None,
) -> None:
    """Every processing period row of the subscription that no charge paid fails."""
    await session.execute(
        update(TokenPurchase)
        .where(
            *_in_organization(organization_id, TokenPurchase.organization_id),
            TokenPurchase.subscription_id == subscription_id,
            TokenPurchase.purchase_type == "subscription",
            PROCESSING,
            TokenPurchase.gateway_charge_id.is_(None),
        )
        .values(**_failed(reason))
        .execution_options(synchronize_session=False)
    )


async def void_open_invoice(
    session: AsyncSession, idempotency_key: str, *, organization_id: int | None = None
) -> str | None:
    """Void the period's invoice if it is open; its number when this call voided it."""
    return await session.scalar(
        _void_open(Invoice.idempotency_key == idempotency_key, organization_id).returning(
            Invoice.invoice_number
        )
    )


async def void_open_invoices(
    session: AsyncSession, subscription_id: int, *, organization_id: int | None = None
) -> Sequence[str]:
    """Void every open invoice of the subscription; the numbers voided."""
    voided = await session.scalars(
        _void_open(Invoice.subscription_id == subscription_id, organization_id).returning(
            Invoice.invoice_number
        )
    )
    return voided.all()


def _update_purchase(
    reference: str, condition: ColumnElement[bool], organization_id: int | None = None
) -> Update:
    return (
        update(TokenPurchase)
        .where(
            TokenPurchase.purchase_reference_id == reference,
            *_in_organization(organization_id, TokenPurchase.organization_id),
            condition,
        )
        .execution_options(synchronize_session=False)
    )


def _void_open(which: ColumnElement[bool], organization_id: int | None = None) -> Update:
    return (
        update(Invoice)
        .where(
            which,
            *_in_organization(organization_id, Invoice.organization_id),
            Invoice.status == "open",
        )
        .values(status="void")
        .execution_options(synchronize_session=False)
    )


def _failed(reason: str) -> dict[str, object]:
    return {
        "status": "failed",
        "failed_at": func.now(),
        "updated_at": func.now(),
        "failure_reason": func.coalesce(TokenPurchase.failure_reason + "; ", "") + reason,
    }
