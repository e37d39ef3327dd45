"""The token_subscriptions table: finding and listing rows, closing one that never started, the
workflow's state mirrored into its row, and the rows the safety net rebuilds runs from."""

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from db.models import Invoice, InvoiceLine, TokenPackage, TokenSubscription


async def find(session: AsyncSession, subscription_id: int) -> TokenSubscription | None:
    """The row as it is now (a row already in the session is read again)."""
    return await session.scalar(
        select(TokenSubscription)
        .where(TokenSubscription.id == subscription_id)
        .execution_options(populate_existing=True)
    )


async def page(
    session: AsyncSession,
    *,
    organization_id: int | None,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[list[TokenSubscription], int]:
    """One page of rows, newest first, and how many match in all."""
    query = select(TokenSubscription)
    if organization_id is not None:
        query = query.where(TokenSubscription.organization_id == organization_id)
    if status is not None:
        query = query.where(TokenSubscription.status == status)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    found = await session.scalars(
        query.order_by(TokenSubscription.id.desc()).limit(limit).offset(offset)
    )
    return list(found), int(total or 0)


async def invoice_page(
    session: AsyncSession, subscription_id: int, *, limit: int, offset: int
) -> tuple[list[tuple[Invoice, Decimal]], int]:
    """A subscription's invoices with the tokens each bills, newest first, and their count."""
    tokens = (
        select(func.coalesce(func.sum(InvoiceLine.token_quantity), 0))
        .where(InvoiceLine.invoice_id == Invoice.id)
        .scalar_subquery()
    )
    query = select(Invoice, tokens).where(Invoice.subscription_id == subscription_id)
    total = await session.scalar(
        select(func.count()).where(Invoice.subscription_id == subscription_id)
    )
    rows = await session.execute(
        query.order_by(Invoice.issue_date.desc(), Invoice.id.desc()).limit(limit).offset(offset)
    )
    return [(invoice, Decimal(quantity)) for invoice, quantity in rows], int(total or 0)


async def add(session: AsyncSession, row: TokenSubscription) -> int:
    """Insert a new row in the open transaction; its id."""
    session.add(row)
    await session.flush()
    return row.id


async def cancel_unstarted(session: AsyncSession, subscription_id: int) -> bool:
    """Cancel a row that is still active (its workflow never started); False when it moved on."""
    cancelled = await session.scalar(
        update(TokenSubscription)
        .where(TokenSubscription.id == subscription_id, TokenSubscription.status == "active")
        .values(
            status="cancelled",
            cancelled_at=func.now(),
            next_billing_date=None,
            updated_at=func.now(),
        )
        .returning(TokenSubscription.id)
        .execution_options(synchronize_session=False)
    )
    return cancelled is not None


def _in_organization(organization_id: int | None) -> list[ColumnElement[bool]]:
    """With its organisation, a subscription is read on its own shard when the tables are
    distributed (docs/distributed-schema.md)."""
    return [] if organization_id is None else [TokenSubscription.organization_id == organization_id]


async def lock_status(
    session: AsyncSession, subscription_id: int, *, organization_id: int | None = None
) -> str | None:
    """The row's status, locked until the transaction ends; None when there is no such row."""
    return await session.scalar(
        select(TokenSubscription.status)
        .where(TokenSubscription.id == subscription_id, *_in_organization(organization_id))
        .with_for_update()
    )


async def mirror(
    session: AsyncSession,
    subscription_id: int,
    columns: Mapping[str, Any],
    *,
    cancelled_at: datetime | None,
    organization_id: int | None = None,
) -> None:
    """Write the workflow's state (`columns`, by column name) into the row. A cancellation time
    already recorded is kept."""
    await session.execute(
        update(TokenSubscription)
        .where(TokenSubscription.id == subscription_id, *_in_organization(organization_id))
        .values(
            **columns,
            cancelled_at=func.coalesce(TokenSubscription.cancelled_at, cancelled_at),
            updated_at=func.now(),
        )
        .execution_options(synchronize_session=False)
    )


async def repair_candidates(
    session: AsyncSession, *, after_id: int, limit: int
) -> list[tuple[TokenSubscription, TokenPackage, TokenPackage | None]]:
    """The page of uncancelled subscriptions after `after_id`, each with its package and the
    package it changes to at its next period (None when no change waits)."""
    next_package = aliased(TokenPackage)
    found = await session.execute(
        select(TokenSubscription, TokenPackage, next_package)
        .join(TokenPackage, TokenPackage.id == TokenSubscription.package_id)
        .outerjoin(next_package, next_package.id == TokenSubscription.next_package_id)
        .where(TokenSubscription.status != "cancelled", TokenSubscription.id > after_id)
        .order_by(TokenSubscription.id)
        .limit(limit)
    )
    return [(subscription, package, upcoming) for subscription, package, upcoming in found]
