"""Creating a subscription: validate, write the row (one transaction), start its workflow. Nothing
here charges or credits: SubscriptionWorkflow does, from its first period."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from db import subscriptions
from db.audit import Actor, RequestContext, write_audit
from db.ledger import ensure_wallet
from db.models import TokenPackage, TokenSubscription
from domain.subscription_policy import subscription_policy
from services.catalog import active_package
from services.errors import unavailable
from services.organizations import active_organization
from services.subscriptions.validation import checked_grace, checked_interval, checked_start
from tokenbill.settings import Settings
from tokenbill.workflow_client import StartOutcome, WorkflowClient
from workflows.search_attributes import NEXT_BILLING_DATE, ORGANIZATION_ID, SUBSCRIPTION_STATUS
from workflows.subscription import SubscriptionWorkflow
from workflows.subscription_types import PackageTerms, SubscriptionRun, subscription_workflow_id


@dataclass(frozen=True)
class SubscriptionOrder:
    """What a buyer asks for; `grace_period` None takes the configured default."""

    organization_id: int
    package_id: int
    payment_method: str
    billing_interval: str
    start_at: datetime | None
    grace_period: str | None


@dataclass(frozen=True)
class NewSubscription:
    subscription_id: int
    workflow_id: str
    grace_period: str
    run: SubscriptionRun


def package_terms(package: TokenPackage) -> PackageTerms:
    return PackageTerms(
        package_id=package.id,
        name=package.name,
        token_quantity=Decimal(package.token_quantity),
        price_per_token=Decimal(package.price_per_token),
        currency=package.currency,
    )


async def record_subscription(
    session: AsyncSession,
    settings: Settings,
    order: SubscriptionOrder,
    *,
    user_id: int,
    context: RequestContext,
) -> NewSubscription:
    """Validate and insert the subscription row (with its audit row) in the open transaction;
    the caller commits."""
    interval = checked_interval(
        order.billing_interval, settings.token_subscription_minimum_interval
    )
    grace_text, grace = checked_grace(order.grace_period, settings)
    start = checked_start(order.start_at)
    package = await active_package(session, order.package_id)
    await active_organization(session, order.organization_id)
    wallet_id = await ensure_wallet(session, order.organization_id)
    row = TokenSubscription(
        organization_id=order.organization_id, wallet_id=wallet_id, package_id=package.id,
        status="active", payment_method=order.payment_method, billing_interval=interval,
        grace_period=grace_text, next_billing_date=start, billing_anchor=start,
        created_by_user_id=user_id, token_quantity=package.token_quantity,
        price_per_token=package.price_per_token, currency=package.currency,
    )  # fmt: skip
    subscription_id = await subscriptions.add(session, row)
    row.workflow_id = subscription_workflow_id(subscription_id)
    await session.flush()
    run = SubscriptionRun(
        subscription_id=subscription_id, organization_id=order.organization_id,
        wallet_id=wallet_id, terms=package_terms(package), payment_method=order.payment_method,
        billing_interval=interval, anchor=start, tax_rate=settings.token_invoice_tax_rate,
        policy=subscription_policy(settings, grace), actor_user_id=user_id,
    )  # fmt: skip
    await write_audit(
        session,
        actor=Actor.user(user_id),
        action="subscription.create",
        organization_id=order.organization_id,
        target_type="token_subscription",
        target_id=subscription_id,
        after=run.model_dump(mode="json"),
        context=context,
    )
    return NewSubscription(subscription_id, row.workflow_id, grace_text, run)


async def start_subscription(
    session: AsyncSession,
    workflows: WorkflowClient,
    subscription: NewSubscription,
    *,
    user_id: int,
    context: RequestContext,
    forget_answer: Callable[[], Awaitable[None]],
) -> None:
    """Start the recorded subscription's workflow. When no run exists and none will, the row is
    cancelled (nothing was charged), `forget_answer` drops the caller's stored answer in the same
    transaction, and it commits: a retry then starts afresh. Raises UNAVAILABLE
    `workflow_unavailable` then, or `workflow_start_unknown` when the start was not confirmed (the
    subscription stays active and will bill once Temporal answers)."""
    outcome = await _start_workflow(workflows, subscription)
    if outcome is StartOutcome.NOT_STARTED and await _cancel_unstarted(
        session, subscription, user_id=user_id, context=context
    ):
        await forget_answer()
        await session.commit()
        raise unavailable(
            "workflow_unavailable",
            "The workflow service is unavailable, so the subscription was not started and "
            "nothing was charged. Retry later.",
            {"subscription_id": subscription.subscription_id},
        )
    if outcome is StartOutcome.UNKNOWN:
        raise unavailable(
            "workflow_start_unknown",
            f"The subscription {subscription.subscription_id} was recorded, but the workflow "
            "service did not confirm that its workflow started. It will run (and bill) once the "
            "service answers: retry with the same Idempotency-Key to follow it, never with a "
            "new one.",
            {"subscription_id": subscription.subscription_id},
        )


async def _start_workflow(workflows: WorkflowClient, subscription: NewSubscription) -> StartOutcome:
    """Start the workflow under its business key; NOT_STARTED only when none runs."""
    run = subscription.run
    return await workflows.start(
        SubscriptionWorkflow.run,
        run,
        workflow_id=subscription.workflow_id,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(ORGANIZATION_ID, str(run.organization_id)),
                SearchAttributePair(SUBSCRIPTION_STATUS, "active"),
                SearchAttributePair(NEXT_BILLING_DATE, run.anchor),
            ]
        ),
    )


async def _cancel_unstarted(
    session: AsyncSession,
    subscription: NewSubscription,
    *,
    user_id: int,
    context: RequestContext,
) -> bool:
    """Close a subscription whose workflow never started: nothing was charged. False when the
    row is no longer active (something else moved it on), which is then left alone."""
    if not await subscriptions.cancel_unstarted(session, subscription.subscription_id):
        return False
    await write_audit(
        session,
        actor=Actor.user(user_id),
        action="subscription.start_failed",
        organization_id=subscription.run.organization_id,
        target_type="token_subscription",
        target_id=subscription.subscription_id,
        after={"status": "cancelled", "reason": "the workflow service is unavailable"},
        outcome="failure",
        context=context,
    )
    return True
