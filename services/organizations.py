"""The organization a request names: in the path it must exist; in a purchase or subscription it
must also be active."""

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Organization
from services.errors import ErrorKind, organization_inactive, organization_not_found


async def existing_organization(session: AsyncSession, organization_id: int) -> Organization:
    """The organization named in the path; NOT_FOUND when there is none."""
    organization = await session.get(Organization, organization_id)
    if organization is None:
        raise organization_not_found(organization_id, ErrorKind.NOT_FOUND)
    return organization


async def active_organization(session: AsyncSession, organization_id: int) -> None:
    """Refuse an organization named in a request that is missing or deactivated."""
    organization = await session.get(Organization, organization_id)
    if organization is None:
        raise organization_not_found(organization_id, ErrorKind.INVALID)
    if not organization.is_active:
        raise organization_inactive(organization_id)
