"""A wallet's automatic top-up policy: read, set, remove (tokens.configure, audited).

A policy spends money, so setting one needs tokens.purchase as well. Every policy is capped (a
daily count and a monthly spend, defaulting from settings, never unlimited) and its schedule is
at least AUTO_TOPUP_MINIMUM_SCHEDULE_INTERVAL apart. A policy keeps the package terms (or the
default price) it was set with until the customer chooses another package.

Setting the policy re-activates a suspended one and nudges the wallet's AutoTopupWorkflow so a
new schedule takes effect at once (best effort: the workflow re-reads the policy at every trigger
anyway). TOKEN_AUTO_TOPUP_ENABLED=false leaves policies stored but inert.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from api.auth.dependencies import Configurer, Principal, authorize_organization, deny
from api.deps import OrganizationId, Session, SettingsDep, Workflows
from api.openapi_errors import CONFIGURING_INACTIVE_ERRORS
from api.request_context import audit_context
from api.schemas.auto_topup import AutoTopupPolicyIn, AutoTopupPolicyOut
from api.schemas.common import AUTH_ERRORS
from db.audit import Actor
from db.directory import PURCHASE
from services.administration.organizations import refuse_configuring_inactive
from services.auto_topup.policies import read_policy, remove_policy, set_policy

router = APIRouter(prefix="/wallet", tags=["auto top-up"], responses=AUTH_ERRORS)


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
    view = await read_policy(session, settings, organization_id)
    return AutoTopupPolicyOut.model_validate(view, from_attributes=True)


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
    await refuse_configuring_inactive(session, principal.is_admin, organization_id)
    view = await set_policy(
        session, settings, temporal, organization_id, body,
        actor=Actor.user(principal.id), context=audit_context(request),
    )  # fmt: skip
    return AutoTopupPolicyOut.model_validate(view, from_attributes=True)


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
    await refuse_configuring_inactive(session, principal.is_admin, organization_id)
    await remove_policy(
        session, settings, organization_id,
        actor=Actor.user(principal.id), context=audit_context(request),
    )  # fmt: skip
    return Response(status_code=204)
