"""Creating a subscription: validate at the edge, write the row (one transaction), start its
workflow. The API never charges or credits: SubscriptionWorkflow does, from its first period."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from api.auth.dependencies import Principal
from api.errors import ApiError, validation_error
from api.schemas.subscriptions import SubscriptionCreate
from db.audit import Actor, RequestContext, write_audit
from db.ledger import ensure_wallet
from db.models import TokenPackage, TokenSubscription
from domain.durations import InvalidInterval, parse_interval
from domain.subscription_policy import subscription_policy
from services.purchases.catalog import active_organization, active_package
from services.workflow_client import StartOutcome, WorkflowClient
from tokenbill.settings import Settings
from workflows.search_attributes import NEXT_BILLING_DATE, ORGANIZATION_ID, SUBSCRIPTION_STATUS
from workflows.subscription import SubscriptionWorkflow
from workflows.subscription_types import (
    PackageTerms,
    SubscriptionRun,
    subscription_workflow_id,
)

START_AT_TOLERANCE = timedelta(minutes=5)  # clocks differ; a start this little in the past is now


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


def checked_interval(text_value: str, minimum: timedelta) -> str:
    try:
        interval = parse_interval(text_value)
    except InvalidInterval as exc:
        raise validation_error("body.billing_interval", str(exc)) from exc
    if interval.shortest < minimum:
        raise ApiError(
            422,
            "billing_interval_too_short",
            f"The billing interval {text_value} is shorter than the minimum of "
            f"{_iso(minimum)} this system bills by.",
            {"billing_interval": text_value, "minimum": _iso(minimum)},
        )
    return text_value


def checked_grace(text_value: str | None, settings: Settings) -> tuple[str, timedelta]:
    if text_value is None:
        days = settings.token_subscription_grace_period_days
        return f"P{days}D", timedelta(days=days)
    try:
        grace = parse_interval(text_value)
    except InvalidInterval as exc:
        raise validation_error("body.grace_period", str(exc)) from exc
    if grace.months:
        raise validation_error(
            "body.grace_period", "use days or time (P7D, PT30S), not months or years"
        )
    return text_value, grace.exact


def checked_start(start_at: datetime | None) -> datetime:
    now = datetime.now(UTC).replace(microsecond=0)
    if start_at is None:
        return now
    if start_at < now - START_AT_TOLERANCE:
        raise validation_error("body.start_at", "must not be in the past")
    return max(start_at.astimezone(UTC), now)


async def record_subscription(
    session: AsyncSession,
    *,
    settings: Settings,
    principal: Principal,
    body: SubscriptionCreate,
    context: RequestContext,
) -> NewSubscription:
    """Validate and insert the subscription row (with its audit row) in the open transaction."""
    interval = checked_interval(body.billing_interval, settings.token_subscription_minimum_interval)
    grace_text, grace = checked_grace(body.grace_period, settings)
    start = checked_start(body.start_at)
    package = await active_package(session, body.package_id)
    await active_organization(session, body.organization_id)
    wallet_id = await ensure_wallet(session, body.organization_id)
    row = TokenSubscription(
        organization_id=body.organization_id, wallet_id=wallet_id, package_id=package.id,
        status="active", payment_method=body.payment_method, billing_interval=interval,
        grace_period=grace_text, next_billing_date=start, billing_anchor=start,
        created_by_user_id=principal.id, token_quantity=package.token_quantity,
        price_per_token=package.price_per_token, currency=package.currency,
    )  # fmt: skip
    session.add(row)
    await session.flush()
    workflow_id = subscription_workflow_id(row.id)
    await session.execute(
        text("UPDATE token_subscriptions SET workflow_id = :wf WHERE id = :id"),
        {"wf": workflow_id, "id": row.id},
    )
    run = SubscriptionRun(
        subscription_id=row.id, organization_id=body.organization_id, wallet_id=wallet_id,
        terms=package_terms(package), payment_method=body.payment_method,
        billing_interval=interval, anchor=start, tax_rate=settings.token_invoice_tax_rate,
        policy=subscription_policy(settings, grace), actor_user_id=principal.id,
    )  # fmt: skip
    await write_audit(
        session,
        actor=Actor.user(principal.id),
        action="subscription.create",
        organization_id=body.organization_id,
        target_type="token_subscription",
        target_id=row.id,
        after=run.model_dump(mode="json"),
        context=context,
    )
    return NewSubscription(row.id, workflow_id, grace_text, run)


async def start_subscription_workflow(
    temporal: WorkflowClient, settings: Settings, subscription: NewSubscription
) -> StartOutcome:
    """Start the subscription's workflow under its business key; NOT_STARTED only when none
    runs."""
    run = subscription.run
    return await temporal.start(
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


async def cancel_unstarted_subscription(
    session: AsyncSession,
    subscription: NewSubscription,
    *,
    principal: Principal,
    context: RequestContext,
) -> bool:
    """Close a subscription whose workflow never started: nothing was charged. False when the
    row is no longer active (something else moved it on), which is then left alone."""
    cancelled = await session.scalar(
        text(
            "UPDATE token_subscriptions SET status = 'cancelled', cancelled_at = now(), "
            "next_billing_date = NULL, updated_at = now() WHERE id = :id AND status = 'active' "
            "RETURNING id"
        ),
        {"id": subscription.subscription_id},
    )
    if cancelled is None:
        return False
    await write_audit(
        session,
        actor=Actor.user(principal.id),
        action="subscription.start_failed",
        organization_id=subscription.run.organization_id,
        target_type="token_subscription",
        target_id=subscription.subscription_id,
        after={"status": "cancelled", "reason": "the workflow service is unavailable"},
        outcome="failure",
        context=context,
    )
    return True


def _iso(duration: timedelta) -> str:
    """timedelta as ISO 8601 (P1D, PT10S, P1DT2H)."""
    seconds = int(duration.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    time = "".join(f"{v}{u}" for v, u in ((hours, "H"), (minutes, "M"), (secs, "S")) if v)
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "") if seconds else "PT0S"
