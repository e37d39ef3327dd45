"""An organization's spend limits: per API key or organization-wide, per UTC day or month, hard
or soft (tokens.configure, own organization; an admin any; audited)."""

from fastapi import APIRouter, Request, Response

from api.auth.dependencies import Configurer, authorize_organization
from api.deps import OrganizationId, Session
from api.openapi_errors import CONFIGURING_INACTIVE_ERRORS
from api.request_context import audit_context
from api.schemas.common import AUTH_ERRORS
from api.schemas.spend_limits import SpendLimitOut, SpendLimitsOut, SpendLimitsUpdate
from db.audit import Actor
from db.spend_limits import LimitSpec, LimitState
from services.wallet.spend_limits import clear_limits, list_limits, set_limits

router = APIRouter(prefix="/wallet", tags=["wallet"], responses=AUTH_ERRORS)

PERIODS = (
    "Periods are UTC calendar days (00:00 to 24:00 UTC) and UTC calendar months; `resets_at` is "
    "the end of the current one."
)


@router.get(
    "/{organization_id}/spend-limits",
    summary="Read the spend limits",
    description="Requires `tokens.configure` on the organization. Each limit with what its "
    f"current period counted (applied spends and captured holds). {PERIODS}",
)
async def get_spend_limits(
    request: Request, principal: Configurer, session: Session, organization_id: OrganizationId
) -> SpendLimitsOut:
    await authorize_organization(request, principal, organization_id)
    return _answer(organization_id, await list_limits(session, organization_id))


@router.put(
    "/{organization_id}/spend-limits",
    summary="Set the spend limits",
    responses=CONFIGURING_INACTIVE_ERRORS,
    description="Requires `tokens.configure` on the organization. The body is the whole set "
    "(idempotent: sending it again changes nothing); a limit kept (same API key or organization "
    "and period) keeps what its period counted, one left out is removed. A `hard` limit refuses "
    "the spend that would cross its cap with 409 `spend_limit_reached` (which limit, cap, used, "
    "`resets_at`); a `soft` one lets it through and the first spend reaching the cap in a period "
    "records one `wallet.spend_limit_reached` notification. Counting starts when a limit is "
    f"set. {PERIODS} Audited.",
)
async def put_spend_limits(
    request: Request,
    principal: Configurer,
    session: Session,
    organization_id: OrganizationId,
    body: SpendLimitsUpdate,
) -> SpendLimitsOut:
    await authorize_organization(request, principal, organization_id)
    wanted = [LimitSpec(i.api_key_id, i.period, i.cap, i.mode) for i in body.limits]
    saved = await set_limits(
        session, organization_id, wanted, actor=Actor.user(principal.id),
        acting_as_admin=principal.is_admin, context=audit_context(request),
    )  # fmt: skip
    return _answer(organization_id, saved)


@router.delete(
    "/{organization_id}/spend-limits",
    status_code=204,
    summary="Remove every spend limit",
    responses=CONFIGURING_INACTIVE_ERRORS,
    description="Requires `tokens.configure` on the organization. Removes the limits and what "
    "they counted. Audited.",
)
async def delete_spend_limits(
    request: Request, principal: Configurer, session: Session, organization_id: OrganizationId
) -> Response:
    await authorize_organization(request, principal, organization_id)
    await clear_limits(
        session, organization_id, actor=Actor.user(principal.id),
        acting_as_admin=principal.is_admin, context=audit_context(request),
    )  # fmt: skip
    return Response(status_code=204)


def _answer(organization_id: int, limits: list[LimitState]) -> SpendLimitsOut:
    return SpendLimitsOut(
        organization_id=organization_id,
        limits=[SpendLimitOut.model_validate(limit, from_attributes=True) for limit in limits],
    )
