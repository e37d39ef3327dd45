"""Reading purchases back, with their invoice number, for the purchase routes."""

from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.schemas.purchases import PurchaseOut
from db.models import Invoice, TokenPurchase


def _with_invoice_number() -> Select[TokenPurchase, str]:
    return select(TokenPurchase, Invoice.invoice_number).outerjoin(
        Invoice, Invoice.id == TokenPurchase.invoice_id
    )


def purchase_out(row: TokenPurchase, invoice_number: str | None) -> PurchaseOut:
    return PurchaseOut(
        purchase_reference_id=row.purchase_reference_id, organization_id=row.organization_id,
        package_id=row.package_id, purchase_type=row.purchase_type, status=row.status,
        token_quantity=row.token_quantity, price_per_token=row.price_per_token,
        subtotal_amount=row.subtotal_amount, tax_rate=row.tax_rate, tax_amount=row.tax_amount,
        total_amount=row.total_amount, currency=row.currency, payment_method=row.payment_method,
        invoice_number=invoice_number, failure_reason=row.failure_reason,
        review_reason=row.review_reason,
        workflow_id=row.workflow_id, purchased_by_user_id=row.purchased_by_user_id,
        created_at=row.created_at, processing_at=row.processing_at,
        completed_at=row.completed_at, failed_at=row.failed_at, refunded_at=row.refunded_at,
        updated_at=row.updated_at,
    )  # fmt: skip


async def find_purchase(session: AsyncSession, reference: str) -> PurchaseOut | None:
    """The purchase as the database has it now (never a stale copy from this session)."""
    found = (
        await session.execute(
            _with_invoice_number()
            .where(TokenPurchase.purchase_reference_id == reference)
            .execution_options(populate_existing=True)
        )
    ).one_or_none()
    return None if found is None else purchase_out(found[0], found[1])


async def list_purchases(
    session: AsyncSession,
    *,
    organization_id: int | None,
    status: str | None,
    created_from: datetime | None,
    created_to: datetime | None,
    limit: int,
    offset: int,
) -> tuple[list[PurchaseOut], int]:
    query = _with_invoice_number()
    if organization_id is not None:
        query = query.where(TokenPurchase.organization_id == organization_id)
    if status is not None:
        query = query.where(TokenPurchase.status == status)
    if created_from is not None:
        query = query.where(TokenPurchase.created_at >= created_from)
    if created_to is not None:
        query = query.where(TokenPurchase.created_at < created_to)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.execute(
        query.order_by(TokenPurchase.created_at.desc(), TokenPurchase.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [purchase_out(row[0], row[1]) for row in rows], int(total or 0)
