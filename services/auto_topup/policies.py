"""Reading, setting and removing an organization's automatic top-up policy (audited).

Setting the policy re-activates a suspended one and nudges the wallet's AutoTopupWorkflow when
top-ups are switched on; TOKEN_AUTO_TOPUP_ENABLED=false leaves policies stored but inert.
"""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import Actor, RequestContext
from db.auto_topup import policy_of_organization
from db.ledger import ensure_wallet
from db.models import AutoTopupPolicy
from services import audit
from services.auto_topup.choice import (
    PolicyChoice,
    agree_terms,
    capped,
    check_schedule,
    package_on_sale,
)
from services.auto_topup.nudge import nudge
from services.auto_topup.view import PolicyView
from services.errors import ServiceError, not_found
from services.organizations import existing_organization
from tokenbill.settings import Settings
from tokenbill.workflow_client import WorkflowClient


def _no_policy(organization_id: int) -> ServiceError:
    return not_found(
        "auto_topup_policy_not_found",
        f"Organization {organization_id} has no automatic top-up policy.",
    )


async def _audit(
    session: AsyncSession,
    action: str,
    organization_id: int,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    *,
    actor: Actor,
    context: RequestContext | None,
) -> None:
    target = audit.Target("auto_topup_policy", organization_id, organization_id)
    await audit.record(session, actor, action, target, before, after, context)


async def read_policy(
    session: AsyncSession, settings: Settings, organization_id: int
) -> PolicyView:
    await existing_organization(session, organization_id)
    policy = await policy_of_organization(session, organization_id)
    if policy is None:
        raise _no_policy(organization_id)
    return _view(policy, settings)


async def set_policy(
    session: AsyncSession,
    settings: Settings,
    workflows: WorkflowClient,
    organization_id: int,
    choice: PolicyChoice,
    *,
    actor: Actor,
    context: RequestContext | None = None,
) -> PolicyView:
    """Replace the whole policy (creating it and the wallet on first need), commit, and nudge."""
    await existing_organization(session, organization_id)
    max_per_day, max_monthly_spend = capped(choice, settings)
    check_schedule(choice, settings)
    package = await package_on_sale(session, choice.package_id)
    wallet_id = await ensure_wallet(session, organization_id)
    policy = await policy_of_organization(session, organization_id, for_update=True)
    before = None if policy is None else _view(policy, settings).audited()
    if policy is None:
        policy = AutoTopupPolicy(wallet_id=wallet_id, organization_id=organization_id)
        session.add(policy)
    agree_terms(policy, package, settings)
    policy.enabled = choice.enabled
    policy.threshold = choice.threshold
    policy.schedule_interval = choice.schedule.interval if choice.schedule else None
    policy.schedule_anchor = choice.schedule.anchor if choice.schedule else None
    policy.package_id = choice.package_id
    policy.target_balance = choice.target_balance
    policy.payment_method = choice.payment_method
    policy.max_topups_per_day = max_per_day
    policy.max_monthly_spend = max_monthly_spend
    policy.cooldown = choice.cooldown
    policy.status = "active"
    policy.suspended_reason = None
    policy.suspended_at = None
    policy.consecutive_failures = 0
    policy.updated_at = datetime.now(UTC)
    await session.flush()
    await session.refresh(policy)
    view = _view(policy, settings)
    await _audit(session, "auto_topup.policy_set", organization_id, before, view.audited(),
                 actor=actor, context=context)  # fmt: skip
    await session.commit()
    if settings.token_auto_topup_enabled and policy.enabled:
        await nudge(workflows, policy)
    return view


async def remove_policy(
    session: AsyncSession,
    settings: Settings,
    organization_id: int,
    *,
    actor: Actor,
    context: RequestContext | None = None,
) -> None:
    """Delete the policy: a top-up already in flight completes, no new one starts."""
    await existing_organization(session, organization_id)
    policy = await policy_of_organization(session, organization_id, for_update=True)
    if policy is None:
        raise _no_policy(organization_id)
    before = _view(policy, settings).audited()
    await session.delete(policy)
    await _audit(session, "auto_topup.policy_delete", organization_id, before, None,
                 actor=actor, context=context)  # fmt: skip
    await session.commit()


def _view(policy: AutoTopupPolicy, settings: Settings) -> PolicyView:
    return PolicyView.of(policy, system_enabled=settings.token_auto_topup_enabled)
