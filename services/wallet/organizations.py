"""The organization a wallet request names: it must exist."""

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Organization
from services.errors import ErrorKind, organization_not_found


async def existing_organization(session: AsyncSession, organization_id: int) -> Organization:
    """The organization named in the path; NOT_FOUND when there is none."""
    organization = await session.get(Organization, organization_id)
    if organization is None:
        raise organization_not_found(organization_id, ErrorKind.NOT_FOUND)
    return organization
