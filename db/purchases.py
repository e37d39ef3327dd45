"""The token_purchases rows of one-time purchases: reading them back with their invoice number,
and the conditional status changes the purchase workflow's activities and the API make.

Every status change moves only an open row (pending or processing) and says whether it changed
anything, so a repeated activity never moves a terminal status backwards and audits only once.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Invoice, TokenPurchase

OPEN_STATUSES = ("pending", "processing")
PurchaseRow = Row[*tuple[Any, ...]]
"""A token_purchases row's columns by name, with its invoice's `invoice_number`."""


def _with_invoice_number() -> Select[*tuple[Any, ...]]:
    return select(*TokenPurchase.__table__.columns, Invoice.invoice_number).outerjoin(
        Invoice, Invoice.id == TokenPurchase.invoice_id
    )


async def purchase_by_reference(session: AsyncSession, reference: str) -> PurchaseRow | None:
    """The purchase as the database has it now (columns, never a stale object of this session)."""
    query = _with_invoice_number().where(TokenPurchase.purchase_reference_id == reference)
    return (await session.execute(query)).one_or_none()


async def purchase_page(
    session: AsyncSession,
    *,
    organization_id: int | None,
    status: str | None,
    created_from: datetime | None,
    created_to: datetime | None,
    limit: int,
    offset: int,
    purchase_type: str | None = None,
) -> tuple[list[PurchaseRow], int]:
    """One page of purchases matching the filters, newest first, and how many match in all."""
    query = _with_invoice_number()
    if organization_id is not None:
        query = query.where(TokenPurchase.organization_id == organization_id)
    if status is not None:
        query = query.where(TokenPurchase.status == status)
    if purchase_type is not None:
        query = query.where(TokenPurchase.purchase_type == purchase_type)
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
    return list(rows), int(total or 0)


def _the_purchase(reference: str, organization_id: int | None) -> list[ColumnElement[bool]]:
    """The purchase by its reference; with its organisation too, the lookup stays on the
    organisation's shard when the tables are distributed (docs/distributed-schema.md)."""
    found = [TokenPurchase.purchase_reference_id == reference]
    if organization_id is not None:
        found.append(TokenPurchase.organization_id == organization_id)
    return found


async def purchase_status(
    session: AsyncSession, reference: str, *, organization_id: int | None = None
) -> str | None:
    return await session.scalar(
        select(TokenPurchase.status).where(*_the_purchase(reference, organization_id))
    )


async def _change(
    session: AsyncSession,
    reference: str,
    *conditions: Any,
    organization: int | None = None,
    **values: Any,
) -> bool:
    """Apply `values` (and updated_at = now()) to the purchase when `conditions` hold; whether a
    row changed."""
    changed = await session.scalar(
        update(TokenPurchase)
        .where(*_the_purchase(reference, organization), *conditions)
        .values(updated_at=func.now(), **values)
        .returning(TokenPurchase.id)
    )
    return changed is not None


async def mark_processing(
    session: AsyncSession, reference: str, *, organization_id: int | None = None
) -> bool:
    return await _change(
        session, reference, TokenPurchase.status == "pending", organization=organization_id,
        status="processing", processing_at=func.now(),
    )  # fmt: skip


async def record_charge(
    session: AsyncSession,
    reference: str,
    charge_reference: str,
    *,
    organization_id: int | None = None,
) -> bool:
    """Keep the gateway's charge reference; False when one is already kept."""
    return await _change(
        session, reference, TokenPurchase.gateway_charge_id.is_(None),
        organization=organization_id,
        gateway_charge_id=charge_reference,
    )  # fmt: skip


async def mark_completed(
    session: AsyncSession,
    reference: str,
    *,
    invoice_id: int,
    charge_reference: str,
    organization_id: int | None = None,
) -> bool:
    return await _change(
        session, reference, TokenPurchase.status.in_(OPEN_STATUSES),
        organization=organization_id,
        status="completed", completed_at=func.now(), invoice_id=invoice_id,
        gateway_charge_id=func.coalesce(TokenPurchase.gateway_charge_id, charge_reference),
    )  # fmt: skip


async def mark_failed(
    session: AsyncSession,
    reference: str,
    *,
    reason: str,
    review: str | None = None,
    organization_id: int | None = None,
) -> bool:
    """Fail an open purchase; with `review`, flag it for finance from now."""
    return await _change(
        session, reference, TokenPurchase.status.in_(OPEN_STATUSES),
        organization=organization_id,
        status="failed", failed_at=func.now(), failure_reason=reason, review_reason=review,
        review_requested_at=None if review is None else func.now(),
    )  # fmt: skip


async def fail_pending(session: AsyncSession, reference: str, *, reason: str) -> bool:
    """Fail a purchase still pending (its workflow never started); False when it is not."""
    return await _change(
        session, reference, TokenPurchase.status == "pending",
        status="failed", failure_reason=reason, failed_at=func.now(),
    )  # fmt: skip


async def mark_refunded(
    session: AsyncSession, reference: str, *, refund_reference: str, reason: str,
    review: str | None, organization_id: int | None = None,
) -> bool:  # fmt: skip
    """Refund an open purchase; with `review`, flag it for finance from now."""
    return await _change(
        session, reference, TokenPurchase.status.in_(OPEN_STATUSES),
        organization=organization_id,
        status="refunded", refunded_at=func.now(), gateway_refund_id=refund_reference,
        failure_reason=reason, review_reason=review,
        review_requested_at=None if review is None else func.now(),
    )  # fmt: skip
