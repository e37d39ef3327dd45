"""Reading subscriptions back: the mirror row, merged with a live query of the workflow."""

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.service import RPCError

from api.schemas.subscriptions import SubscriptionInvoiceOut, SubscriptionOut
from db.models import Invoice, InvoiceLine, TokenSubscription
from services.workflow_client import WorkflowClient, WorkflowUnavailable
from workflows.subscription_types import STATE_QUERY, SubscriptionState, subscription_workflow_id

logger = logging.getLogger("tokenbill.api.subscriptions")
QUERY_TIMEOUT = timedelta(seconds=5)


def subscription_out(row: TokenSubscription, live: SubscriptionState | None) -> SubscriptionOut:
    """The row as finance reads it; the workflow's answer wins for what it owns."""
    out = SubscriptionOut(
        subscription_id=row.id, organization_id=row.organization_id, package_id=row.package_id,
        next_package_id=row.next_package_id, status=row.status, payment_method=row.payment_method,
        billing_interval=row.billing_interval, grace_period=row.grace_period,
        current_period_start=row.current_period_start, current_period_end=row.current_period_end,
        next_billing_date=row.next_billing_date, cancel_at_period_end=row.cancel_at_period_end,
        dunning_attempt=row.dunning_attempt, last_payment_error=row.last_payment_error,
        grace_period_ends_at=row.grace_period_ends_at, suspended_at=row.suspended_at,
        cancelled_at=row.cancelled_at, workflow_id=row.workflow_id, created_at=row.created_at,
        updated_at=row.updated_at, live=False,
    )  # fmt: skip
    if live is None:
        return out
    return out.model_copy(
        update={
            "status": live.status, "package_id": live.package_id,
            "next_package_id": live.next_package_id, "payment_method": live.payment_method,
            "current_period_start": live.current_period_start,
            "current_period_end": live.current_period_end,
            "next_billing_date": live.next_billing_date,
            "cancel_at_period_end": live.cancel_at_period_end,
            "dunning_attempt": live.dunning_attempt,
            "last_payment_error": live.last_payment_error,
            "grace_period_ends_at": live.grace_period_ends_at,
            "suspended_at": live.suspended_at,
            "cancelled_at": live.cancelled_at or row.cancelled_at, "live": True,
        }
    )  # fmt: skip


async def live_state(temporal: WorkflowClient, subscription_id: int) -> SubscriptionState | None:
    """The workflow's own answer, or None when it is closed or Temporal does not answer."""
    try:
        client = await temporal.client()
        handle = client.get_workflow_handle(subscription_workflow_id(subscription_id))
        state: SubscriptionState = await asyncio.wait_for(
            handle.query(STATE_QUERY, result_type=SubscriptionState, rpc_timeout=QUERY_TIMEOUT),
            QUERY_TIMEOUT.total_seconds(),
        )
    except (WorkflowUnavailable, RPCError, TimeoutError) as exc:
        logger.debug("subscription %s: no live state: %s", subscription_id, exc)
        return None
    return state


async def find_subscription(
    session: AsyncSession, subscription_id: int
) -> TokenSubscription | None:
    return await session.scalar(
        select(TokenSubscription)
        .where(TokenSubscription.id == subscription_id)
        .execution_options(populate_existing=True)
    )


async def list_subscriptions(
    session: AsyncSession,
    *,
    organization_id: int | None,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[list[SubscriptionOut], int]:
    query = select(TokenSubscription)
    if organization_id is not None:
        query = query.where(TokenSubscription.organization_id == organization_id)
    if status is not None:
        query = query.where(TokenSubscription.status == status)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    found = await session.scalars(
        query.order_by(TokenSubscription.id.desc()).limit(limit).offset(offset)
    )
    return [subscription_out(row, None) for row in found], int(total or 0)


async def subscription_invoices(
    session: AsyncSession, subscription_id: int, *, limit: int, offset: int
) -> tuple[list[SubscriptionInvoiceOut], int]:
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
    items = [
        SubscriptionInvoiceOut(
            invoice_number=invoice.invoice_number,
            status=invoice.status,
            currency=invoice.currency,
            subtotal=invoice.subtotal,
            tax_rate=invoice.tax_rate,
            tax_amount=invoice.tax_amount,
            total=invoice.total,
            token_quantity=quantity,
            issue_date=invoice.issue_date,
            due_date=invoice.due_date,
            paid_at=invoice.paid_at,
            purchase_reference_id=invoice.purchase_reference_id,
        )
        for invoice, quantity in rows
    ]
    return items, int(total or 0)
