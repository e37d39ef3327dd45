"""An organization's balance alert thresholds (tokens.configure, own organization, audited)."""

from fastapi import APIRouter, Request

from api.auth.dependencies import Configurer, authorize_organization
from api.deps import OrganizationId, Session, SettingsDep
from api.errors import ApiError, validation_error
from api.organization_status import CONFIGURING_INACTIVE_ERRORS, refuse_configuring_inactive
from api.request_context import audit_context
from api.schemas.common import AUTH_ERRORS
from api.schemas.spend_settings import ThresholdsOut, ThresholdsUpdate
from db.audit import Actor
from db.models import Organization
from db.thresholds import set_thresholds

router = APIRouter(prefix="/wallet", tags=["wallet"], responses=AUTH_ERRORS)


@router.put(
    "/{organization_id}/thresholds",
    summary="Set the balance alert thresholds",
    responses=CONFIGURING_INACTIVE_ERRORS,
    description="Requires `tokens.configure` on the organization. `low` and `critical` are token "
    "balances (null: the deployment's default, TOKEN_LOW_BALANCE_THRESHOLD / "
    "TOKEN_CRITICAL_BALANCE_THRESHOLD); critical may not be above low. A spend that takes the "
    "balance below one records one notification; it re-arms once the balance is back at or "
    "above it. Audited.",
)
async def put_thresholds(
    request: Request,
    principal: Configurer,
    session: Session,
    settings: SettingsDep,
    organization_id: OrganizationId,
    body: ThresholdsUpdate,
) -> ThresholdsOut:
    await authorize_organization(request, principal, organization_id)
    if await session.get(Organization, organization_id) is None:
        raise ApiError(
            404, "organization_not_found", f"Organization {organization_id} does not exist."
        )
    await refuse_configuring_inactive(session, principal, organization_id)
    low = body.low if body.low is not None else settings.token_low_balance_threshold
    critical = (
        body.critical if body.critical is not None else settings.token_critical_balance_threshold
    )
    if critical > low:
        raise validation_error(
            "body.critical", f"the critical threshold ({critical}) is above the low one ({low})"
        )
    saved = await set_thresholds(
        session, organization_id, low=body.low, critical=body.critical,
        actor=Actor.user(principal.id), context=audit_context(request),
    )  # fmt: skip
    await session.commit()
    return ThresholdsOut(
        organization_id=organization_id, wallet_id=saved.wallet_id, low=low, critical=critical,
        low_is_default=body.low is None, critical_is_default=body.critical is None,
    )  # fmt: skip
