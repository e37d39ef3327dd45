"""Reading subscriptions back: the mirror row, overlaid with a live query of its workflow, and
the invoices of its periods."""

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db import subscriptions
from db.models import Invoice, TokenSubscription
from services.errors import not_found
from tokenbill.workflow_client import WorkflowClient, WorkflowNotRunning, WorkflowUnavailable
from workflows.subscription import SubscriptionWorkflow
from workflows.subscription_types import SubscriptionState, subscription_workflow_id

logger = logging.getLogger("tokenbill.services.subscriptions")

OWNED_BY_WORKFLOW = frozenset(SubscriptionState.model_fields) - {
    "subscription_id",  # the row's id
    "billing_interval",  # fixed when the row is written
    "cancelled_at",  # the row's own when the workflow has none (SubscriptionView.cancelled_at)
}


class SubscriptionView:
    """One subscription as a reader sees it, by attribute: the row's columns, and where the
    workflow's live state answered, the workflow's values for what it owns."""

    def __init__(self, row: TokenSubscription, state: SubscriptionState | None = None) -> None:
        self._row = row
        self._state = state

    @property
    def subscription_id(self) -> int:
        return self._row.id

    @property
    def live(self) -> bool:
        """True when status and dates come from the running workflow."""
        return self._state is not None

    @property
    def cancelled_at(self) -> datetime | None:
        live = None if self._state is None else self._state.cancelled_at
        return live or self._row.cancelled_at

    def __getattr__(self, name: str) -> Any:
        if self._state is not None and name in OWNED_BY_WORKFLOW:
            return getattr(self._state, name)
        return getattr(self._row, name)


@dataclass(frozen=True)
class SubscriptionInvoice:
    """A period's invoice, by attribute, with the tokens it bills."""

    invoice: Invoice
    token_quantity: Decimal

    def __getattr__(self, name: str) -> Any:
        return getattr(self.invoice, name)


async def find_subscription(session: AsyncSession, subscription_id: int) -> TokenSubscription:
    """The subscription's row; NOT_FOUND `subscription_not_found` when there is none."""
    row = await subscriptions.find(session, subscription_id)
    if row is None:
        raise not_found("subscription_not_found", f"Subscription {subscription_id} does not exist.")
    return row


async def read_subscription(workflows: WorkflowClient, row: TokenSubscription) -> SubscriptionView:
    """The row overlaid with its workflow's live state, unless it is cancelled (its workflow has
    ended) or the workflow does not answer."""
    if row.status == "cancelled":
        return SubscriptionView(row)
    return SubscriptionView(row, await _live_state(workflows, row.id))


async def list_subscriptions(
    session: AsyncSession,
    *,
    organization_id: int | None,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[list[SubscriptionView], int]:
    """A page of rows as they are mirrored (no live queries), newest first, and the total."""
    rows, total = await subscriptions.page(
        session, organization_id=organization_id, status=status, limit=limit, offset=offset
    )
    return [SubscriptionView(row) for row in rows], total


async def subscription_invoices(
    session: AsyncSession, subscription_id: int, *, limit: int, offset: int
) -> tuple[list[SubscriptionInvoice], int]:
    """A page of the subscription's invoices, newest first, and the total."""
    found, total = await subscriptions.invoice_page(
        session, subscription_id, limit=limit, offset=offset
    )
    return [SubscriptionInvoice(invoice, tokens) for invoice, tokens in found], total


async def _live_state(workflows: WorkflowClient, subscription_id: int) -> SubscriptionState | None:
    """The workflow's own answer, or None when it is closed or Temporal does not answer."""
    try:
        return await workflows.query(
            subscription_workflow_id(subscription_id), SubscriptionWorkflow.state, SubscriptionState
        )
    except (WorkflowUnavailable, WorkflowNotRunning) as exc:
        logger.debug("subscription %s: no live state: %s", subscription_id, exc)
        return None
