"""An organization's balance alert thresholds (tokens.configure, own organization, audited)."""

from fastapi import APIRouter, Request

from api.auth.dependencies import Configurer, authorize_organization
from api.deps import OrganizationId, Session, SettingsDep
from api.openapi_errors import CONFIGURING_INACTIVE_ERRORS
from api.request_context import audit_context
from api.schemas.common import AUTH_ERRORS
from api.schemas.spend_settings import ThresholdsOut, ThresholdsUpdate
from db.audit import Actor
from services.wallet.thresholds import configure_thresholds

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
    saved = await configure_thresholds(
        session, settings, organization_id, low=body.low, critical=body.critical,
        actor=Actor.user(principal.id), acting_as_admin=principal.is_admin,
        context=audit_context(request),
    )  # fmt: skip
    return ThresholdsOut.model_validate(saved, from_attributes=True)
