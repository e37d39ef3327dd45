"""A wallet's automatic top-up policy: read, set, remove (tokens.configure, audited).

Setting the policy re-activates a suspended one and nudges the wallet's AutoTopupWorkflow so a
new schedule takes effect at once (best effort: the workflow re-reads the policy at every trigger
anyway). TOKEN_AUTO_TOPUP_ENABLED=false leaves policies stored but inert.
"""

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.dependencies import Configurer, Principal, authorize_organization
from api.errors import ApiError
from api.request_context import audit_context
from api.schemas.auto_topup import AutoTopupPolicyIn, AutoTopupPolicyOut, ScheduleOut
from api.schemas.common import AUTH_ERRORS, MAX_ROW_ID
from api.state import get_session, get_settings, get_temporal
from api.temporal_connection import TemporalConnector
from db.audit import Actor, write_audit
from db.ledger import ensure_wallet
from db.models import AutoTopupPolicy, Organization, TokenPackage
from tokenbill.settings import Settings
from workflows.auto_topup_start import signal_auto_topup
from workflows.auto_topup_types import TopupTrigger

logger = logging.getLogger("tokenbill.api.auto_topup")
router = APIRouter(prefix="/wallet", tags=["auto top-up"], responses=AUTH_ERRORS)
Session = Annotated[AsyncSession, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
OrganizationId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="Organization id.")]


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
        payment_method=policy.payment_method, max_topups_per_day=policy.max_topups_per_day,
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
    description="Requires `tokens.configure` on the organization. Replaces the whole policy: "
    "a `threshold` and/or a `schedule` (ISO 8601 `interval` repeated from `anchor`); what to "
    "buy (`package_id`, or `target_balance` at DEFAULT_TOKEN_PRICE); `payment_method`; caps "
    "(`max_topups_per_day`, `max_monthly_spend` per UTC calendar month, tax included); "
    "`cooldown`. Re-activates a suspended policy. Audited with before and after.",
)
async def put_auto_topup(
    request: Request,
    principal: Configurer,
    session: Session,
    settings: SettingsDep,
    temporal: Annotated[TemporalConnector, Depends(get_temporal)],
    organization_id: OrganizationId,
    body: AutoTopupPolicyIn,
) -> AutoTopupPolicyOut:
    await authorize_organization(request, principal, organization_id)
    await _require_organization(session, organization_id)
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
    policy.enabled = body.enabled
    policy.threshold = body.threshold
    policy.schedule_interval = body.schedule.interval if body.schedule else None
    policy.schedule_anchor = body.schedule.anchor if body.schedule else None
    policy.package_id = body.package_id
    policy.target_balance = body.target_balance
    policy.payment_method = body.payment_method
    policy.max_topups_per_day = body.max_topups_per_day
    policy.max_monthly_spend = body.max_monthly_spend
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
    policy = await _policy(session, organization_id, for_update=True)
    if policy is None:
        raise _not_found(organization_id)
    before = _snapshot(policy, settings)
    await session.delete(policy)
    await _audit(request, session, principal, "auto_topup.policy_delete", organization_id,
                 before, None)  # fmt: skip
    await session.commit()
    return Response(status_code=204)


async def _nudge(temporal: TemporalConnector, settings: Settings, policy: AutoTopupPolicy) -> None:
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
