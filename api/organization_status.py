"""What routes of other domains still import from here: the organization_inactive refusal as an
ApiError, and the configuration check (services.administration.organizations) for a principal."""

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.dependencies import Principal
from api.errors import ApiError
from api.openapi_errors import CONFIGURING_INACTIVE_ERRORS
from services import errors
from services.administration import organizations

__all__ = ["CONFIGURING_INACTIVE_ERRORS", "organization_inactive", "refuse_configuring_inactive"]


def organization_inactive(organization_id: int) -> ApiError:
    refusal = errors.organization_inactive(organization_id)
    return ApiError(409, refusal.code, refusal.message, refusal.details)


async def refuse_configuring_inactive(
    session: AsyncSession, principal: Principal, organization_id: int
) -> None:
    await organizations.refuse_configuring_inactive(session, principal.is_admin, organization_id)
