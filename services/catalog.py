"""What a purchase or a subscription names must be for sale: an active package, bought for an
active organization."""

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Organization, TokenPackage
from services.errors import ErrorKind, invalid, organization_inactive, organization_not_found


async def active_package(session: AsyncSession, package_id: int) -> TokenPackage:
    """The package named in a request, which must still be offered for sale."""
    package = await session.get(TokenPackage, package_id)
    if package is None:
        raise invalid("package_not_found", f"Package {package_id} does not exist.")
    if not package.is_active:
        raise invalid("package_inactive", f"Package {package_id} is no longer offered for sale.")
    return package


async def active_organization(session: AsyncSession, organization_id: int) -> None:
    """Refuse an organization named in a request that is missing or deactivated."""
    organization = await session.get(Organization, organization_id)
    if organization is None:
        raise organization_not_found(organization_id, ErrorKind.INVALID)
    if not organization.is_active:
        raise organization_inactive(organization_id)
