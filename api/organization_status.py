"""A deactivated organization's users may read but not act: spending, buying and changing its
configuration answer 409 `organization_inactive`. Admins still act on it (to wind it down, or
to reactivate it)."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.dependencies import Principal
from api.errors import ApiError
from api.schemas.common import ErrorBody
from db.models import Organization

# The answer of every route that changes an organization's configuration, for /docs.
CONFIGURING_INACTIVE_ERRORS: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "organization_inactive: the organization is "
          "deactivated; its users may read but not change its configuration."},
}  # fmt: skip


def organization_inactive(organization_id: int) -> ApiError:
    return ApiError(
        409, "organization_inactive",
        f"Organization {organization_id} is deactivated; an admin can reactivate it.",
        {"organization_id": organization_id},
    )  # fmt: skip


async def refuse_configuring_inactive(
    session: AsyncSession, principal: Principal, organization_id: int
) -> None:
    """Refuse a configuration change by the organization's own users while it is deactivated."""
    if principal.is_admin:
        return
    organization = await session.get(Organization, organization_id)
    if organization is not None and not organization.is_active:
        raise organization_inactive(organization_id)
