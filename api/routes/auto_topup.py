"""A wallet's automatic top-up policy: read, set, remove (tokens.configure, audited).

A policy spends money, so setting one needs tokens.purchase as well. Every policy is capped (a
daily count and a monthly spend, defaulting from settings, never unlimited) and its schedule is
at least AUTO_TOPUP_MINIMUM_SCHEDULE_INTERVAL apart. A policy keeps the package terms (or the
default price) it was set with until the customer chooses another package.

Setting the policy re-activates a suspended one and nudges the wallet's AutoTopupWorkflow so a
new schedule takes effect at once (best effort: the workflow re-reads the policy at every trigger
anyway). TOKEN_AUTO_TOPUP_ENABLED=false leaves policies stored but inert.
"""

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.dependencies import Configurer, Principal, authorize_organization, deny
from api.deps import OrganizationId, Session, SettingsDep, Workflows
from api.errors import ApiError, validation_error
from api.organization_status import CONFIGURING_INACTIVE_ERRORS, refuse_configuring_inactive
from api.request_context import audit_context
from api.schemas.auto_topup import AutoTopupPolicyIn, AutoTopupPolicyOut, ScheduleOut
from api.schemas.common import AUTH_ERRORS
from db.audit import Actor, write_audit
from db.directory import PURCHASE
from db.ledger import ensure_wallet
from db.models import AutoTopupPolicy, Organization, TokenPackage
from domain.durations import parse_interval
from services.workflow_client import WorkflowClient
from tokenbill.settings import Settings
from workflows.auto_topup_start import signal_auto_topup
from workflows.auto_topup_types import TopupTrigger

logger = logging.getLogger("tokenbill.api.auto_topup")
router = APIRouter(prefix="/wallet", tags=["auto top-up"], responses=AUTH_ERRORS)
DURATION = TypeAdapter(timedelta)


async def _configuring_buyer(request: Request, principal: Configurer) -> Principal:
    """tokens.configure and tokens.purchase: a policy spends money on its own."""
    if not principal.has(PURCHASE):
        await deny(
            request,
            principal,
            f"An automatic top-up policy pays for tokens: it needs the {PURCHASE} permission "
            "as well as tokens.configure.",
            organization_id=principal.organization_id,
            permission=PURCHASE,
        )
    return principal


ConfiguringBuyer = Annotated[Principal, Depends(_configuring_buyer)]


def _out(policy: AutoTopupPolicy, settings: Settings) -> AutoTopupPolicyOut:
    schedule = (
        ScheduleOut(interval=policy.schedule_interval, anchor=policy.schedule_anchor)
        if policy.schedule_interval and policy.schedule_anchor
        else None
    )
    return AutoTopupPolicyOut(
        organization_id=policy.organization_id, wallet_id=policy.wallet_id,
        enabled=policy.enabled, status="suspended" if policy.status == "suspended" else "active",
        suspended_reason=policy.suspended_reason, suspended_at=policy.suspended_at,
        consecutive_failures=policy.consecutive_failures, threshold=policy.threshold,
        schedule=schedule, package_id=policy.package_id, target_balance=policy.target_balance,
        payment_method=policy.payment_method, agreed_token_quantity=policy.agreed_token_quantity,
        agreed_price_per_token=policy.agreed_price_per_token,
        agreed_currency=policy.agreed_currency, max_topups_per_day=policy.max_topups_per_day,
        max_monthly_spend=policy.max_monthly_spend, cooldown=policy.cooldown,
        last_topup_at=policy.last_topup_at, system_enabled=settings.token_auto_topup_enabled,
        created_at=policy.created_at, updated_at=policy.updated_at,
    )  # fmt: skip


def _snapshot(policy: AutoTopupPolicy, settings: Settings) -> dict[str, Any]:
    return _out(policy, settings).model_dump(
        mode="json", exclude={"created_at", "updated_at", "system_enabled"}
    )


async def _require_organization(session: AsyncSession, organization_id: int) -> None:
    if await session.get(Organization, organization_id) is None:
        raise ApiError(
            404, "organization_not_found", f"Organization {organization_id} does not exist."
        )


async def _policy(
    session: AsyncSession, organization_id: int, *, for_update: bool = False
) -> AutoTopupPolicy | None:
    query = select(AutoTopupPolicy).where(AutoTopupPolicy.organization_id == organization_id)
    return await session.scalar(query.with_for_update() if for_update else query)


def _capped(body: AutoTopupPolicyIn, settings: Settings) -> tuple[int, Decimal]:
    """The policy's caps: the defaults for those not given, refused above the limits."""
    per_day = body.max_topups_per_day or settings.auto_topup_default_max_per_day
    if per_day > settings.auto_topup_max_per_day_limit:
        raise validation_error(
            "body.max_topups_per_day",
            f"at most {settings.auto_topup_max_per_day_limit} automatic top-ups a day",
        )
    monthly = body.max_monthly_spend or settings.auto_topup_default_max_monthly_spend
    if monthly > settings.auto_topup_max_monthly_spend_limit:
        raise validation_error(
            "body.max_monthly_spend",
            f"at most {settings.auto_topup_max_monthly_spend_limit} a month",
        )
    return per_day, monthly


def _check_schedule(body: AutoTopupPolicyIn, settings: Settings) -> None:
    shortest = settings.auto_topup_minimum_schedule_interval
    if body.schedule and parse_interval(body.schedule.interval).shortest < shortest:
        raise validation_error(
            "body.schedule.interval",
            f"must be at least {DURATION.dump_python(shortest, mode='json')}",
        )


def _agree_terms(policy: AutoTopupPolicy, package: TokenPackage | None, settings: Settings) -> None:
    """Take today's terms when the policy is new or its customer chose another package (or a
    target balance instead of one); otherwise keep those agreed before."""
    chosen_again = policy.agreed_price_per_token is not None and policy.package_id == (
        package.id if package else None
    )
    if chosen_again:
        return
    if package is None:
        policy.agreed_token_quantity = None
        policy.agreed_price_per_token = settings.default_token_price
        policy.agreed_currency = settings.token_currency
    else:
        policy.agreed_token_quantity = package.token_quantity
        policy.agreed_price_per_token = package.price_per_token
        policy.agreed_currency = package.currency


def _not_found(organization_id: int) -> ApiError:
    return ApiError(
        404,
        "auto_topup_policy_not_found",
        f"Organization {organization_id} has no automatic top-up policy.",
    )


async def _audit(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    action: str,
    organization_id: int,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    await write_audit(
        session, actor=Actor.user(principal.id), action=action, organization_id=organization_id,
        target_type="auto_topup_policy", target_id=organization_id, before=before, after=after,
        context=audit_context(request),
    )  # fmt: skip


@router.get(
    "/{organization_id}/auto-topup",
    summary="Read the automatic top-up policy",
    description="Requires `tokens.configure` on the organization. `status` is `suspended` "
    "(with `suspended_reason`) after repeated failed payments; setting the policy again "
    "re-activates it.",
)
async def get_auto_topup(
    request: Request,
    principal: Configurer,
    session: Session,
    settings: SettingsDep,
    organization_id: OrganizationId,
) -> AutoTopupPolicyOut:
    await authorize_organization(request, principal, organization_id)
    await _require_organization(session, organization_id)
    policy = await _policy(session, organization_id)
    if policy is None:
        raise _not_found(organization_id)
    return _out(policy, settings)


@router.put(
    "/{organization_id}/auto-topup",
    summary="Set the automatic top-up policy",
    responses=CONFIGURING_INACTIVE_ERRORS,
    description="Requires `tokens.configure` and `tokens.purchase` on the organization (a policy "
    "pays). Replaces the whole policy: a `threshold` and/or a `schedule` (ISO 8601 `interval` "
    "repeated from `anchor`, at least AUTO_TOPUP_MINIMUM_SCHEDULE_INTERVAL, an hour by "
    "default); what to buy (`package_id`, or `target_balance` at DEFAULT_TOKEN_PRICE); "
    "`payment_method`; caps, never unlimited (`max_topups_per_day`, default "
    "AUTO_TOPUP_DEFAULT_MAX_PER_DAY, at most AUTO_TOPUP_MAX_PER_DAY_LIMIT; `max_monthly_spend` "
    "per UTC calendar month, tax included, default AUTO_TOPUP_DEFAULT_MAX_MONTHLY_SPEND, at "
    "most AUTO_TOPUP_MAX_MONTHLY_SPEND_LIMIT); `cooldown`. The policy keeps the price it was "
    "set with (`agreed_*`) until another package is chosen: a catalog price change does not "
    "alter it. Re-activates a suspended policy. Audited with before and after.",
)
async def put_auto_topup(
    request: Request,
    principal: ConfiguringBuyer,
    session: Session,
    settings: SettingsDep,
    temporal: Workflows,
    organization_id: OrganizationId,
    body: AutoTopupPolicyIn,
) -> AutoTopupPolicyOut:
    await authorize_organization(request, principal, organization_id)
    await _require_organization(session, organization_id)
    await refuse_configuring_inactive(session, principal, organization_id)
    max_per_day, max_monthly_spend = _capped(body, settings)
    _check_schedule(body, settings)
    package = None
    if body.package_id is not None:
        package = await session.get(TokenPackage, body.package_id)
        if package is None or not package.is_active:
            raise ApiError(
                422, "package_unavailable", f"Package {body.package_id} is not offered for sale."
            )
    wallet_id = await ensure_wallet(session, organization_id)
    policy = await _policy(session, organization_id, for_update=True)
    before = None if policy is None else _snapshot(policy, settings)
    if policy is None:
        policy = AutoTopupPolicy(wallet_id=wallet_id, organization_id=organization_id)
        session.add(policy)
    _agree_terms(policy, package, settings)
    policy.enabled = body.enabled
    policy.threshold = body.threshold
    policy.schedule_interval = body.schedule.interval if body.schedule else None
    policy.schedule_anchor = body.schedule.anchor if body.schedule else None
    policy.package_id = body.package_id
    policy.target_balance = body.target_balance
    policy.payment_method = body.payment_method
    policy.max_topups_per_day = max_per_day
    policy.max_monthly_spend = max_monthly_spend
    policy.cooldown = body.cooldown
    policy.status = "active"
    policy.suspended_reason = None
    policy.suspended_at = None
    policy.consecutive_failures = 0
    policy.updated_at = datetime.now(UTC)
    await session.flush()
    await session.refresh(policy)
    after = _snapshot(policy, settings)
    await _audit(request, session, principal, "auto_topup.policy_set", organization_id, before,
                 after)  # fmt: skip
    await session.commit()
    if settings.token_auto_topup_enabled and policy.enabled:
        await _nudge(temporal, settings, policy)
    return _out(policy, settings)


@router.delete(
    "/{organization_id}/auto-topup",
    status_code=204,
    summary="Remove the automatic top-up policy",
    responses=CONFIGURING_INACTIVE_ERRORS,
    description="Requires `tokens.configure` on the organization. A top-up already in flight "
    "completes; no new one starts. Audited.",
)
async def delete_auto_topup(
    request: Request,
    principal: Configurer,
    session: Session,
    settings: SettingsDep,
    organization_id: OrganizationId,
) -> Response:
    await authorize_organization(request, principal, organization_id)
    await _require_organization(session, organization_id)
    await refuse_configuring_inactive(session, principal, organization_id)
    policy = await _policy(session, organization_id, for_update=True)
    if policy is None:
        raise _not_found(organization_id)
    before = _snapshot(policy, settings)
    await session.delete(policy)
    await _audit(request, session, principal, "auto_topup.policy_delete", organization_id,
                 before, None)  # fmt: skip
    await session.commit()
    return Response(status_code=204)


async def _nudge(temporal: WorkflowClient, settings: Settings, policy: AutoTopupPolicy) -> None:
    """Let the wallet's workflow re-read the policy (arming a schedule); best effort."""
    try:
        client = await temporal.client()
        await signal_auto_topup(
            client,
            task_queue=settings.temporal_task_queue,
            wallet_id=policy.wallet_id,
            organization_id=policy.organization_id,
            trigger=TopupTrigger(
                kind="policy_changed", key=f"policy-{policy.updated_at:%Y%m%dT%H%M%S%f}"
            ),
        )
    except Exception as exc:  # the SDK raises RPCError or RuntimeError; the policy is saved
        logger.warning("auto top-up of wallet %s not nudged: %s", policy.wallet_id, exc)
